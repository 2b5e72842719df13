"""Tests that run real software (Spark, JupyterHub, NFS-Ganesha): where it cannot be had here they skip, with one
line naming what is missing; under CI (CI=true), where ./tools/test has installed everything, that is a failure."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import pytest


def require_engine(missing: str) -> None:
    """Skip, or under CI fail, because an engine the test runs is missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing} (CI=true: ./tools/test installs the engines)", pytrace=False)
    pytest.skip(missing)


def wait_for(what: str, check: Callable[[], Any], seconds: float, logs: Callable[[], str] = lambda: "",
             interval: float = 0.2) -> Any:
    """check()'s first true value, polled until the deadline; else a failure with the logs."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds:.0f} s\n{logs()}")
        time.sleep(interval)
