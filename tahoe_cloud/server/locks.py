"""Per-storage-index locks, owned by the server core.

Backends rely on the core never running two mutating calls for one storage
index at once (see ``tahoe_cloud.backends.interfaces``). ``StorageIndexLocks``
hands out one ``DeferredLock`` per storage index, refcounted so the lock of an
idle index is dropped at once: a server sees millions of indexes over its life
and must not keep a lock object for each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from twisted.internet.defer import DeferredLock

from tahoe_cloud.vocabulary import StorageIndex


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = DeferredLock()
        self.users = 0


class StorageIndexLocks:
    """One FIFO lock per storage index, existing only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._entries: dict[StorageIndex, _Entry] = {}

    def __len__(self) -> int:
        """Number of storage indexes with a lock held or awaited (for tests)."""
        return len(self._entries)

    def locked(self, storage_index: StorageIndex) -> bool:
        entry = self._entries.get(storage_index)
        return entry is not None and entry.lock.locked

    @asynccontextmanager
    async def hold(self, storage_index: StorageIndex) -> AsyncIterator[None]:
        """Run the ``async with`` body while holding the storage index's lock."""
        entry = self._entries.get(storage_index)
        if entry is None:
            entry = self._entries[storage_index] = _Entry()
        # Count ourselves before waiting so the entry is not dropped under a waiter.
        entry.users += 1
        try:
            await entry.lock.acquire()
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[storage_index]
