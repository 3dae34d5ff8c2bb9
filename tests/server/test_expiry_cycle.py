"""``ExpiryCycleRunner``: report-only cycles, pacing, saved progress; memory and disk backends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.logger import capturedLogs, formatEvent

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.server.expiry import LeaseChecker
from tahoe_cloud.server.expiry_cycle import HISTORY, ExpiryCycleRunner, load_state
from tahoe_cloud.server.expiry_policy import ExpiryPolicy
from tahoe_cloud.server.expiry_report import CycleReport
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import async_test, run
from tahoe_cloud.testing.support import DAY, NODEID, new_si, start_clock, upload_share
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex

IMM = ShareKind.IMMUTABLE
ENABLED = ExpiryPolicy(enabled=True, mode="age", override_lease_duration=2 * DAY)


class RecordingBackend:
    """Notes every storage index opened; ``work`` seconds pass on ``clock`` at each opening."""

    def __init__(self, inner: IStorageBackend, clock: Clock) -> None:
        self._inner = inner
        self._clock = clock
        self.opened: list[StorageIndex] = []
        self.work = 0.0
        self.on_open: Any = lambda: None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def storage_indexes(self, after: StorageIndex | None = None) -> Any:
        return self._inner.storage_indexes(after)  # type: ignore[attr-defined]

    @asynccontextmanager
    async def shareset(self, si: StorageIndex) -> AsyncIterator[Any]:
        self.opened.append(si)
        self._clock.advance(self.work)
        self.on_open()
        async with self._inner.shareset(si) as shares:
            yield shares


@pytest.fixture
def clock() -> Clock:
    return start_clock()


@pytest.fixture(params=["memory", "disk"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> Iterator[RecordingBackend]:
    inner: IStorageBackend
    if request.param == "memory":
        inner = MemoryBackend()
    else:
        inner = DiskBackend(storage_dir=tmp_path / "storage")
    run(inner.start())
    try:
        yield RecordingBackend(inner, clock)
    finally:
        run(inner.stop())


@pytest.fixture
def server(backend: RecordingBackend, clock: Clock) -> Iterator[StorageServer]:
    s = StorageServer(backend, nodeid=NODEID, clock=clock)  # type: ignore[arg-type]
    yield s
    run(s.uploads.abort_all())


def runner(
    server: StorageServer, backend: RecordingBackend, clock: Clock, path: Path, **kwargs: Any
) -> ExpiryCycleRunner:
    kwargs.setdefault("initial_delay", 0)
    kwargs.setdefault("save_interval", 0)
    return ExpiryCycleRunner(server, backend, ENABLED, path, clock, **kwargs)  # type: ignore[arg-type]


async def tick() -> None:
    """Let the real reactor run (the disk backend's pool answers through it)."""
    await deferLater(reactor, 0, lambda: None)


async def drive(clock: Clock, done: Any, step: float = 0.0, limit: int = 20_000) -> None:
    """Advance ``clock`` by ``step`` and let the reactor run until ``done()``."""
    for _ in range(limit):
        if done():
            return
        clock.advance(step)
        await tick()
    raise AssertionError("never done")


async def full_cycle(clock: Clock, r: ExpiryCycleRunner) -> CycleReport:
    d = Deferred.fromCoroutine(r.run_cycle())
    await drive(clock, lambda: d.called)
    return await d


async def populate(server: StorageServer, n: int) -> list[StorageIndex]:
    sis = []
    for i in range(n):
        si = new_si()
        await upload_share(server, si, 0, b"x" * (10 + i))
        if i % 2:
            await upload_share(server, si, 1, b"y" * 5)
        sis.append(si)
    backend = server.backend
    assert isinstance(backend, RecordingBackend)
    backend.opened.clear()
    return sorted(sis, key=lambda si: si.text)


async def snapshot(server: StorageServer, sis: list[StorageIndex]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for si in sis:
        async with server.backend.shareset(si) as shares:
            leases: dict[int, list[Lease]] = await shares.read_leases()
            out[si] = (await shares.list_shares(), leases)
    return out


@async_test
async def test_full_cycle_reports_direct_figures_and_changes_nothing(
    server: StorageServer, backend: RecordingBackend, clock: Clock, tmp_path: Path
) -> None:
    sis = await populate(server, 7)
    clock.advance(3 * DAY)  # every lease expired under ENABLED, which is enabled
    before = await snapshot(server, sis)
    expected = CycleReport()
    direct = LeaseChecker.for_server(server, attrs.evolve(ENABLED, enabled=False))
    for si in sis:
        expected.add(await direct.examine(si))
    r = runner(server, backend, clock, tmp_path / "state.json")
    assert not r.policy.enabled
    report = await full_cycle(clock, r)
    assert report.report_only
    assert report.kinds == expected.kinds
    assert report.storage_indexes_examined == 7
    assert report[IMM].shares_reclaimed == 10 and report[IMM].leases_expired > 0
    assert await snapshot(server, sis) == before  # nothing deleted, no lease removed
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["current"] is None and saved["last_storage_index"] is None
    assert [CycleReport.from_dict(c) for c in saved["history"]] == [report]


@async_test
async def test_progress_is_saved_and_a_new_runner_resumes_after_it(
    server: StorageServer, backend: RecordingBackend, clock: Clock, tmp_path: Path
) -> None:
    sis = await populate(server, 6)
    path = tmp_path / "state.json"
    first = runner(server, backend, clock, path)
    stopped: list[Deferred[None]] = []

    def stop_at_the_third() -> None:
        if len(backend.opened) == 3:
            # Asked to stop while examining: that storage index is finished, then it stops.
            stopped.append(Deferred.fromCoroutine(first.stop()))

    backend.on_open = stop_at_the_third
    first.start()
    await drive(clock, lambda: stopped and stopped[0].called)
    await stopped[0]
    backend.on_open = lambda: None
    assert len(backend.opened) == 3
    saved = json.loads(path.read_text())
    assert saved["last_storage_index"] == sis[2].text
    assert saved["current"]["storage_indexes_examined"] == 3
    second = runner(server, backend, clock, path)
    assert second.state.last_storage_index == sis[2]
    report = await full_cycle(clock, second)
    assert backend.opened == sis  # none twice, none skipped, in order
    assert report.storage_indexes_examined == 6
    assert report.started == saved["current"]["started"]


@async_test
async def test_a_corrupt_state_file_starts_over_with_a_log_line(
    server: StorageServer, backend: RecordingBackend, clock: Clock, tmp_path: Path
) -> None:
    sis = await populate(server, 2)
    path = tmp_path / "state.json"
    for text in ["{not json", json.dumps({"version": 1, "current": {"x": 1}}), "[]"]:
        path.write_text(text)
        with capturedLogs() as events:
            r = runner(server, backend, clock, path)
        [line] = [formatEvent(e) for e in events]
        assert "corrupt" in line and "starting the cycle over" in line
        assert r.state.current is None and r.state.history == []
    report = await full_cycle(clock, r)
    assert report.storage_indexes_examined == len(sis)
    assert load_state(path).history == [report]


@async_test
async def test_pacing_sleeps_as_long_as_the_work_took(
    server: StorageServer, backend: RecordingBackend, clock: Clock, tmp_path: Path
) -> None:
    await populate(server, 2)
    backend.work = 10.0
    for duty, sleep in [(0.5, 10.0), (0.25, 30.0)]:
        backend.opened.clear()
        r = runner(server, backend, clock, tmp_path / f"{duty}.json", duty_cycle=duty)
        d = Deferred.fromCoroutine(r.run_cycle())
        await drive(clock, lambda: backend.opened)
        await drive(clock, lambda: clock.getDelayedCalls())
        [call] = clock.getDelayedCalls()
        assert call.getTime() - clock.seconds() == pytest.approx(sleep)
        clock.advance(sleep - 0.5)
        await tick()
        assert len(backend.opened) == 1  # still sleeping
        clock.advance(0.5)
        await drive(clock, lambda: len(backend.opened) == 2)
        await drive(clock, lambda: clock.getDelayedCalls())
        clock.advance(sleep)
        await drive(clock, lambda d=d: d.called)
        await d


@async_test
async def test_cycles_repeat_after_the_initial_delay_and_minimum_cycle_time(
    server: StorageServer, backend: RecordingBackend, clock: Clock, tmp_path: Path
) -> None:
    await populate(server, 2)
    r = runner(
        server, backend, clock, tmp_path / "s.json", initial_delay=300, minimum_cycle_time=DAY
    )
    start = clock.seconds()
    r.start()
    clock.advance(299)
    await tick()
    assert backend.opened == []
    clock.advance(1)
    await drive(clock, lambda: len(r.state.history) == 1)
    assert r.state.history[0].started == start + 300
    assert len(backend.opened) == 2
    clock.advance(DAY - 1)
    await tick()
    assert len(backend.opened) == 2
    clock.advance(1)
    await drive(clock, lambda: len(r.state.history) == 2)
    assert r.state.history[1].started == start + 300 + DAY
    await r.stop()
    assert len(load_state(tmp_path / "s.json").history) == 2


@async_test
async def test_history_keeps_the_last_cycles(
    server: StorageServer, backend: RecordingBackend, clock: Clock, tmp_path: Path
) -> None:
    await populate(server, 1)
    path = tmp_path / "s.json"
    for _ in range(HISTORY + 2):
        await full_cycle(clock, runner(server, backend, clock, path))
    assert len(load_state(path).history) == HISTORY
