"""Per-storage-index locks serialise one index, leave others alone and are dropped when idle."""

from __future__ import annotations

import pytest_twisted
from twisted.internet.defer import Deferred

from tahoe_cloud.server.locks import StorageIndexLocks
from tahoe_cloud.vocabulary import StorageIndex

SI_A = StorageIndex(b"a" * 16)
SI_B = StorageIndex(b"b" * 16)


@pytest_twisted.ensureDeferred
async def test_serialises_one_index_only() -> None:
    locks = StorageIndexLocks()
    events: list[str] = []
    gate: Deferred[None] = Deferred()

    async def holder(name: str, si: StorageIndex, wait: Deferred[None] | None) -> None:
        async with locks.hold(si):
            events.append(f"{name} in")
            if wait is not None:
                await wait
            events.append(f"{name} out")

    first = Deferred.fromCoroutine(holder("first", SI_A, gate))
    second = Deferred.fromCoroutine(holder("second", SI_A, None))
    other = Deferred.fromCoroutine(holder("other", SI_B, None))
    assert events == ["first in", "other in", "other out"]
    assert locks.locked(SI_A) and not locks.locked(SI_B)
    assert len(locks) == 1
    gate.callback(None)
    await first
    await second
    await other
    assert events[3:] == ["first out", "second in", "second out"]
    assert len(locks) == 0


@pytest_twisted.ensureDeferred
async def test_released_on_error() -> None:
    locks = StorageIndexLocks()
    try:
        async with locks.hold(SI_A):
            raise ValueError("boom")
    except ValueError:
        pass
    assert len(locks) == 0
    async with locks.hold(SI_A):
        assert locks.locked(SI_A)
