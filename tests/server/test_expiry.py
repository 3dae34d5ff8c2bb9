"""``LeaseChecker.examine``: each rule of lease expiry, on the memory and the disk backend.

The disk backend matters here: it removes leases inside upstream's containers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.backends.interfaces import IShareSet, IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.expiry import LeaseChecker
from tahoe_cloud.server.expiry_policy import ExpiryPolicy
from tahoe_cloud.server.expiry_report import KindCounts, StorageIndexReport
from tahoe_cloud.server.lease_policy import DEFAULT_LEASE_DURATION
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import async_test, run
from tahoe_cloud.testing.support import (
    DAY,
    NODEID,
    START_TIME,
    lease_secrets,
    new_si,
    start_clock,
    upload_secret,
    upload_share,
    write_enabler,
)
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex, WriteVector

IMM = ShareKind.IMMUTABLE
MUT = ShareKind.MUTABLE
AGE_2_DAYS = ExpiryPolicy(enabled=True, mode="age", override_lease_duration=2 * DAY)


class GatedBackend:
    """A backend whose next lease write waits for ``gate`` (when set): a renewal caught midway."""

    def __init__(self, inner: IStorageBackend) -> None:
        self._inner = inner
        self.gate: Deferred[None] | None = None
        self.waiting: Deferred[None] = Deferred()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @asynccontextmanager
    async def shareset(self, si: StorageIndex) -> AsyncIterator[Any]:
        async with self._inner.shareset(si) as shares:
            yield _GatedShares(shares, self)


class _GatedShares:
    def __init__(self, inner: IShareSet, backend: GatedBackend) -> None:
        self._inner = inner
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def write_leases(self, leases: Any) -> None:
        gate, self._backend.gate = self._backend.gate, None
        if gate is not None:
            self._backend.waiting.callback(None)
            await gate
        await self._inner.write_leases(leases)


@pytest.fixture(params=["memory", "disk"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatedBackend]:
    inner: IStorageBackend
    if request.param == "memory":
        inner = MemoryBackend()
    else:
        inner = DiskBackend(storage_dir=tmp_path / "storage")
    run(inner.start())
    try:
        yield GatedBackend(inner)
    finally:
        run(inner.stop())


@pytest.fixture
def clock() -> Clock:
    return start_clock()


@pytest.fixture
def server(backend: GatedBackend, clock: Clock) -> Iterator[StorageServer]:
    s = StorageServer(backend, nodeid=NODEID, clock=clock)  # type: ignore[arg-type]
    yield s
    run(s.uploads.abort_all())


def checker(server: StorageServer, policy: ExpiryPolicy = AGE_2_DAYS) -> LeaseChecker:
    return LeaseChecker.for_server(server, policy)


async def write_mutable(
    server: StorageServer, si: StorageIndex, shnum: int, data: bytes, we: bytes, lease: Any = None
) -> None:
    result = await server.read_test_write(
        si,
        write_enabler=we,
        lease=lease or lease_secrets(),
        vectors={shnum: m.TestWriteVectors(writes=(WriteVector(0, data),))},
        read_vector=[],
    )
    assert result.success


async def kinds(server: StorageServer, si: StorageIndex) -> dict[int, ShareKind]:
    async with server.backend.shareset(si) as shares:
        return await shares.list_shares()


def expirations(leases: dict[int, list[Lease]]) -> dict[int, list[int]]:
    return {n: sorted(lease.expiration for lease in ls) for n, ls in leases.items()}


@async_test
async def test_age_with_override(server: StorageServer, clock: Clock) -> None:
    si = new_si()
    await upload_share(server, si, 0, b"a" * 10)
    await upload_share(server, si, 1, b"b" * 7)
    clock.advance(2 * DAY)
    report = await checker(server).examine(si)
    assert (report[IMM].leases_expired, report[IMM].shares_reclaimed) == (0, 0)
    assert await kinds(server, si) == {0: IMM, 1: IMM}
    clock.advance(1)
    report = await checker(server).examine(si)
    assert report.deleted and not report.skipped_busy
    assert report[IMM] == KindCounts(
        shares_examined=2,
        leases_examined=3,  # the second allocate added its lease to share 0
        leases_expired=3,
        shares_reclaimed=2,
        bytes_reclaimed=17,
        leases_per_share={1: 1, 2: 1},
        lease_age_histogram={2: 3},
    )
    assert report[MUT] == KindCounts()
    assert await kinds(server, si) == {}


@async_test
async def test_nothing_expired_counts_and_keeps(server: StorageServer, clock: Clock) -> None:
    si = new_si()
    await upload_share(server, si, 0, b"a" * 10)
    clock.advance(DAY + 5)
    report = await checker(server).examine(si)
    assert report[IMM] == KindCounts(
        shares_examined=1, leases_examined=1, leases_per_share={1: 1}, lease_age_histogram={1: 1}
    )
    assert await kinds(server, si) == {0: IMM}


@async_test
async def test_age_without_override_uses_the_leases_expiration(
    server: StorageServer, clock: Clock
) -> None:
    si = new_si()
    await upload_share(server, si, 0, b"abc")
    policy = ExpiryPolicy(enabled=True, mode="age")
    clock.advance(DEFAULT_LEASE_DURATION)
    assert (await checker(server, policy).examine(si))[IMM].shares_reclaimed == 0
    assert await kinds(server, si) == {0: IMM}
    clock.advance(1)
    report = await checker(server, policy).examine(si)
    assert report[IMM].shares_reclaimed == 1
    assert report[IMM].lease_age_histogram == {31: 1}
    assert await kinds(server, si) == {}


@async_test
async def test_cutoff_date(server: StorageServer, clock: Clock) -> None:
    old, renewed = new_si(), new_si()
    secrets = lease_secrets()
    await upload_share(server, old, 0, b"old")
    await upload_share(server, renewed, 0, b"renewed", lease=secrets)
    clock.advance(DAY)
    cutoff = int(clock.seconds())
    await server.add_or_renew_lease(renewed, secrets)  # renewed at the cutoff: not before it
    policy = ExpiryPolicy(enabled=True, mode="cutoff-date", cutoff_date=cutoff)
    assert (await checker(server, policy).examine(old))[IMM].shares_reclaimed == 1
    assert (await checker(server, policy).examine(renewed))[IMM].leases_expired == 0
    assert await kinds(server, old) == {}
    assert await kinds(server, renewed) == {0: IMM}


@async_test
async def test_expired_leases_removed_unexpired_kept(server: StorageServer, clock: Clock) -> None:
    si = new_si()
    first, second = lease_secrets(), lease_secrets()
    await upload_share(server, si, 0, b"abc", lease=first)
    await upload_share(server, si, 1, b"def", lease=first)
    clock.advance(2 * DAY)
    await server.add_or_renew_lease(si, second)  # a second lease on both shares
    clock.advance(1)
    report = await checker(server).examine(si)
    assert report[IMM].leases_expired == 2
    assert report[IMM].shares_reclaimed == 0
    assert report[IMM].leases_per_share == {2: 2}
    assert await kinds(server, si) == {0: IMM, 1: IMM}
    leases = await server.get_leases(si)
    assert expirations(leases) == {
        n: [START_TIME + 2 * DAY + DEFAULT_LEASE_DURATION] for n in (0, 1)
    }
    assert all(ls[0].renew_secret_matches(second.renew) for ls in leases.values())


@async_test
async def test_mutable_shares(server: StorageServer, clock: Clock) -> None:
    si, we = new_si(), write_enabler()
    await write_mutable(server, si, 0, b"x" * 33, we)
    await write_mutable(server, si, 1, b"y" * 11, we)
    clock.advance(3 * DAY)
    report = await checker(server).examine(si)
    assert report[MUT].shares_reclaimed == 2
    assert report[MUT].bytes_reclaimed == 44
    assert await kinds(server, si) == {}


@async_test
async def test_kinds_not_selected_are_left_alone(server: StorageServer, clock: Clock) -> None:
    imm, mut, we = new_si(), new_si(), write_enabler()
    await upload_share(server, imm, 0, b"abc")
    await write_mutable(server, mut, 0, b"x", we)
    clock.advance(3 * DAY)
    before = {si: await server.get_leases(si) for si in (imm, mut)}
    only_mutable = ExpiryPolicy(
        enabled=True, mode="age", override_lease_duration=2 * DAY, immutable=False
    )
    report = await checker(server, only_mutable).examine(imm)
    assert report[IMM] == KindCounts(
        shares_examined=1, leases_examined=1, leases_per_share={1: 1}, lease_age_histogram={3: 1}
    )
    assert await kinds(server, imm) == {0: IMM}
    assert expirations(await server.get_leases(imm)) == expirations(before[imm])
    only_immutable = ExpiryPolicy(
        enabled=True, mode="age", override_lease_duration=2 * DAY, mutable=False
    )
    assert (await checker(server, only_immutable).examine(mut))[MUT].shares_reclaimed == 0
    assert await kinds(server, mut) == {0: MUT}
    assert (await checker(server, only_mutable).examine(mut))[MUT].shares_reclaimed == 1
    assert await kinds(server, mut) == {}


@async_test
async def test_report_only_counts_what_enabled_does_and_changes_nothing(
    server: StorageServer, clock: Clock
) -> None:
    si, we = new_si(), write_enabler()
    first, second = lease_secrets(), lease_secrets()
    await upload_share(server, si, 0, b"abc", lease=first)
    await upload_share(server, si, 1, b"defg", lease=first)
    await write_mutable(server, si, 2, b"mutable", we)
    clock.advance(2 * DAY)
    await server.add_or_renew_lease(si, second)
    await upload_share(server, si, 3, b"fresh")
    clock.advance(DAY)
    leases = await server.get_leases(si)
    report_only = ExpiryPolicy(enabled=False, mode="age", override_lease_duration=2 * DAY)
    reported = await checker(server, report_only).examine(si)
    assert not reported.deleted
    assert await server.get_leases(si) == leases
    enabled = await checker(server).examine(si)
    assert enabled.deleted
    assert reported.kinds == enabled.kinds
    assert enabled[IMM].leases_expired == 2
    assert enabled[MUT].leases_expired == 1
    assert enabled[MUT].shares_reclaimed == 0  # renewed by the second lease
    assert await kinds(server, si) == {0: IMM, 1: IMM, 2: MUT, 3: IMM}


@async_test
async def test_report_only_counts_reclaimable_bytes(server: StorageServer, clock: Clock) -> None:
    si = new_si()
    await upload_share(server, si, 0, b"abcde")
    clock.advance(3 * DAY)
    report_only = ExpiryPolicy(enabled=False, mode="age", override_lease_duration=2 * DAY)
    report = await checker(server, report_only).examine(si)
    assert (report[IMM].shares_reclaimed, report[IMM].bytes_reclaimed) == (1, 5)
    assert await kinds(server, si) == {0: IMM}


@async_test
async def test_an_upload_in_progress_makes_the_index_busy(
    server: StorageServer, clock: Clock
) -> None:
    si = new_si()
    await upload_share(server, si, 0, b"abc")
    secret = upload_secret()
    await server.allocate_buckets(
        si,
        lease=lease_secrets(),
        upload_secret=secret,
        share_numbers=frozenset({1}),
        allocated_size=3,
    )
    # Expired within the upload's idle timeout (30 minutes), which would abort it.
    policy = ExpiryPolicy(enabled=True, mode="age", override_lease_duration=60)
    clock.advance(120)
    assert await checker(server, policy).examine(si) == StorageIndexReport(skipped_busy=True)
    assert await kinds(server, si) == {0: IMM}
    await server.write_immutable(si, 1, upload_secret=secret, offset=0, data=b"xyz")
    clock.advance(120)
    report = await checker(server, policy).examine(si)
    assert report[IMM].shares_reclaimed == 2
    assert await kinds(server, si) == {}


@async_test
async def test_a_read_test_write_waiting_makes_the_index_busy(
    server: StorageServer, clock: Clock
) -> None:
    si, we = new_si(), write_enabler()
    await write_mutable(server, si, 0, b"x", we)
    clock.advance(3 * DAY)
    async with server.locks.hold(si):
        # A read-test-write arrives and waits for the lock: in progress.
        writing = Deferred.fromCoroutine(write_mutable(server, si, 0, b"y", we))
        assert server.busy(si)
        assert (await checker(server).examine(si)).skipped_busy
    await writing
    assert not server.busy(si)
    assert (await checker(server).examine(si))[MUT].shares_reclaimed == 0  # just renewed
    assert await server.read_mutable(si, 0, 0, 1) == b"y"


@async_test
async def test_a_lease_renewed_while_the_step_waits_is_respected(
    server: StorageServer, backend: GatedBackend, clock: Clock
) -> None:
    si = new_si()
    secrets = lease_secrets()
    await upload_share(server, si, 0, b"abc", lease=secrets)
    clock.advance(3 * DAY)
    # A renewal holds the lock, caught before it stores the renewed lease ...
    gate: Deferred[None] = Deferred()
    backend.gate = gate
    renewing = Deferred.fromCoroutine(server.add_or_renew_lease(si, secrets))
    await backend.waiting
    # ... when the step starts: the share's only lease was expired when listed.
    examining = Deferred.fromCoroutine(checker(server).examine(si))
    assert not examining.called
    gate.callback(None)
    await renewing
    report = await examining
    assert report[IMM].leases_expired == 0
    assert report[IMM].shares_reclaimed == 0
    assert await kinds(server, si) == {0: IMM}
    assert expirations(await server.get_leases(si)) == {
        0: [START_TIME + 3 * DAY + DEFAULT_LEASE_DURATION]
    }


@async_test
async def test_an_empty_index(server: StorageServer) -> None:
    assert await checker(server).examine(new_si()) == StorageIndexReport(deleted=True)
