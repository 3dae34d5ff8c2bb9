"""Fixtures for the configuration and registry tests."""

import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from twisted.logger import LogEvent, capturedLogs, formatEvent

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def upstream_venv() -> Path:
    """The cached virtualenv holding stock tahoe-lafs 1.20 (built on first use)."""
    out = subprocess.run(
        [str(REPO / "tools" / "upstream-venv")], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip())


@pytest.fixture
def logged() -> Iterator[Sequence[LogEvent]]:
    """Every Twisted log event emitted during the test."""
    with capturedLogs() as events:
        yield events


def warnings_text(events: Sequence[LogEvent]) -> list[str]:
    """The formatted text of the warning-level events."""
    return [formatEvent(e) for e in events if getattr(e.get("log_level"), "name", "") == "warn"]
