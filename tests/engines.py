"""Tests that run real software (Spark, JupyterHub, NFS-Ganesha): where it cannot be had here they skip, with one
line naming what is missing; under CI (CI=true), where ./tools/test has installed everything, that is a failure."""

from __future__ import annotations

import os

import pytest


def require_engine(missing: str) -> None:
    """Skip, or under CI fail, because an engine the test runs is missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing} (CI=true: ./tools/test installs the engines)", pytrace=False)
    pytest.skip(missing)
