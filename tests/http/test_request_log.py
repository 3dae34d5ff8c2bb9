"""What the front end logs per request, and the per-minute traffic summary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted
from twisted.logger import LogEvent, LogLevel, formatEvent, globalLogPublisher

from tahoe_cloud.http.resource import storage_resource
from tahoe_cloud.http.traffic import WINDOW, TrafficTally
from tests.http.conftest import SWISSNUM, Gbs, new_si, serve_beside


@pytest.fixture
def events() -> Iterator[list[LogEvent]]:
    seen: list[LogEvent] = []
    globalLogPublisher.addObserver(seen.append)  # type: ignore[arg-type]
    try:
        yield seen
    finally:
        globalLogPublisher.removeObserver(seen.append)  # type: ignore[arg-type]


def http_lines(events: list[LogEvent]) -> list[tuple[LogLevel, str]]:
    return [
        (e["log_level"], formatEvent(e))
        for e in events
        if e.get("log_namespace") == "tahoe_cloud.http"
    ]


@pytest.fixture
def timed_gbs(gbs: Gbs) -> Iterator[Gbs]:
    """The same server behind a resource whose request log runs on the test's clock."""
    yield from serve_beside(gbs, storage_resource(gbs.server, SWISSNUM, clock=gbs.clock))


@pytest_twisted.ensureDeferred
async def test_successes_at_debug_failures_at_info_with_their_reason(
    timed_gbs: Gbs, events: list[LogEvent]
) -> None:
    gbs = timed_gbs  # its clock stands still, so every duration reads 0.000s
    si = new_si()
    assert (await gbs.allocate(si, {0}, 4)).code == 200
    assert (await gbs.request("GET", f"/storage/v1/immutable/{si.text}/0")).code == 404
    lines = http_lines(events)
    assert (LogLevel.debug, f"POST /storage/v1/immutable/{si.text} 200 0.000s") in lines
    (failed,) = [(level, text) for level, text in lines if " 404 " in text]
    assert failed[0] is LogLevel.info
    assert failed[1].startswith(f"GET /storage/v1/immutable/{si.text}/0 404 0.000s (")


@pytest_twisted.ensureDeferred
async def test_a_summary_at_info_once_a_minute_has_passed(
    timed_gbs: Gbs, events: list[LogEvent]
) -> None:
    gbs = timed_gbs
    si = new_si()
    await gbs.allocate(si, {0}, 4)
    await gbs.write(si, 0, 0, b"abcd")
    await gbs.request("GET", f"/storage/v1/immutable/{si.text}/7")
    assert not [t for level, t in http_lines(events) if level is LogLevel.info and "last" in t]
    gbs.clock.advance(WINDOW + 1)
    await gbs.request("GET", "/storage/v1/version")
    summaries = [t for level, t in http_lines(events) if level is LogLevel.info and "last" in t]
    assert len(summaries) == 1
    assert summaries[0].startswith("in the last 61 s: 3 requests (2xx: 2, 4xx: 1); ")
    assert summaries[0].endswith(" out")


def test_tally_windows() -> None:
    tally = TrafficTally(window_start=0.0)
    tally.record(500.0, 200, 0, 10)  # first request after idling: the window starts here
    assert tally.window_start == 500.0
    tally.record(530.0, 201, 2_500_000, 0)
    assert tally.summary(560.0) == "in the last 60 s: 2 requests (2xx: 2); 2.5 MB in, 10 B out"
    tally.record(561.0, 503, 0, 0)  # logs the first window, starts another
    assert (tally.window_start, dict(tally.statuses)) == (561.0, {"5xx": 1})
    assert tally.summary(562.0) == "in the last 1 s: 1 request (5xx: 1); 0 B in, 0 B out"
