"""Shared test helpers: run the program under mocks for a stack, with configuration overrides."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from tools import preview as offline


def run_preview(stack: str, overrides: Optional[dict[str, Any]] = None) -> offline.Preview:
    return offline.run(stack, overrides)


def config_error(stack: str, overrides: dict[str, Any]) -> str:
    """The one-line message a bad configuration stops the program with."""
    from components.settings import ConfigError

    with pytest.raises(ConfigError) as caught:
        offline.run(stack, overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.fixture
def monitors(monkeypatch) -> list[offline.RecordingMonitor]:
    """The recording monitor of every preview run in the test, latest last: what each run declared."""
    seen = []

    class Remembered(offline.RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            seen.append(self)

    monkeypatch.setattr(offline, "RecordingMonitor", Remembered)
    return seen


@pytest.fixture(scope="session")
def gke() -> offline.Preview:
    return offline.run("gke")


@pytest.fixture(scope="session")
def baremetal() -> offline.Preview:
    return offline.run("baremetal")
