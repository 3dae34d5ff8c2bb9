"""The ``disk`` backend: shares in upstream Tahoe-LAFS's own directory layout and formats.

A storage directory written by a stock Tahoe-LAFS storage node is served as
it is, and one written here can be handed back to a stock node. All file
I/O runs in a small dedicated thread pool (started by ``start()``, stopped
by ``stop()``), so the reactor thread never waits on the disk; the one
exception is the ``statvfs`` of ``available_space`` (see there).

``start()`` removes what a crash may have left: everything under
``shares/incoming/``, which holds both unfinished uploads (as upstream) and
the staging files of interrupted share rewrites. Its cost does not depend
on how many shares the store holds.

The backend provides ``IShareEnumeration`` (``storage_indexes``): a walk of
the prefix directories in order, a bounded batch per pool call (see
``enumeration``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from zope.interface import implementer

from tahoe_cloud.backends.capabilities import IShareEnumeration, StoredIndex
from tahoe_cloud.backends.disk import advisories, enumeration, lease_journal
from tahoe_cloud.backends.disk.fileio import IOPool, os_error, run_io
from tahoe_cloud.backends.disk.immutable import BufferBudget
from tahoe_cloud.backends.disk.layout import Layout
from tahoe_cloud.backends.disk.shareset import DiskShareSet
from tahoe_cloud.backends.disk.space import available_space
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.vocabulary import MAX_MUTABLE_SHARE_SIZE, ShareKind, StorageIndex


def prepare_storage(layout: Layout) -> int:
    """Create the directories and clean crash leftovers (blocking). Returns files removed."""
    for directory in (layout.shares_dir, layout.advisories_dir):
        directory.mkdir(parents=True, exist_ok=True)
    # Finish lease changes a crash cut short before incoming/ (holding their journals) is emptied.
    lease_journal.replay_all(layout.shares_dir)
    removed = 0
    if layout.incoming_dir.exists():
        for entry in os.scandir(layout.incoming_dir):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
    layout.rewrites_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(layout.shares_dir, os.W_OK):
        raise PermissionError(13, "Permission denied", str(layout.shares_dir))
    return removed


#: The most storage indexes one pool call of an enumeration examines (one batch).
DISK_BATCH = 256


@implementer(IStorageBackend, IShareEnumeration)
class DiskBackend:
    """Shares in files under ``storage_dir``; see the module docstring.

    Cheap to construct (no I/O until ``start()``), so tests can make one per
    ``tmp_path``.
    """

    name = "disk"
    maximum_mutable_share_size = MAX_MUTABLE_SHARE_SIZE

    def __init__(
        self,
        storage_dir: Path,
        reserved_space: int = 0,
        *,
        reactor: IReactorFromThreads | None = None,
        max_threads: int = 4,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor  # type: ignore[assignment]
        assert reactor is not None
        self._reactor = reactor
        self.layout = Layout(Path(storage_dir).absolute())
        self.reserved_space = reserved_space
        self._pool = IOPool(reactor, max_threads)
        self._budget = BufferBudget()
        self._shutdown_trigger: object = None

    def __repr__(self) -> str:
        return f"DiskBackend({str(self.layout.storage_dir)!r})"

    async def start(self) -> None:
        self._pool.start()
        if IReactorCore.providedBy(self._reactor) and self._shutdown_trigger is None:
            # If the process exits without stop(), still join the pool's
            # threads, or the interpreter would wait on them forever.
            self._shutdown_trigger = self._reactor.addSystemEventTrigger(
                "during", "shutdown", self._pool.stop
            )
        try:
            await run_io(
                self._pool,
                "prepare storage directory",
                self.layout.storage_dir,
                prepare_storage,
                self.layout,
            )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        # IOPool.stop() joins its threads after queued work is done; the
        # work items are single file operations, so this wait is short.
        if self._shutdown_trigger is not None:
            self._reactor.removeSystemEventTrigger(self._shutdown_trigger)  # type: ignore[attr-defined]
            self._shutdown_trigger = None
        self._pool.stop()

    @asynccontextmanager
    async def shareset(self, storage_index: StorageIndex) -> AsyncIterator[DiskShareSet]:
        shareset = DiskShareSet(self._pool, self.layout, storage_index, self._budget)
        try:
            yield shareset
        finally:
            shareset.close()

    async def storage_indexes(
        self, after: StorageIndex | None = None
    ) -> AsyncIterator[list[StoredIndex]]:
        """``IShareEnumeration``: batches of at most ``DISK_BATCH``, one pool call each.

        Reads the prefix directories' names once, each prefix directory once
        when the walk reaches it, then each storage index's directory (and a
        ``stat`` per share file, for ``leases_modified``). ``incoming/`` is
        never read.
        """
        shares_dir = self.layout.shares_dir
        start = "" if after is None else after.prefix
        skip_to = "" if after is None else after.text
        prefixes = await run_io(
            self._pool, "list", shares_dir, enumeration.prefixes, shares_dir, start
        )
        for prefix in prefixes:
            prefix_dir = shares_dir / prefix
            names = await run_io(
                self._pool, "list", prefix_dir, enumeration.storage_indexes_in, prefix_dir, skip_to
            )
            for i in range(0, len(names), DISK_BATCH):
                found = await run_io(
                    self._pool,
                    "list",
                    prefix_dir,
                    enumeration.examine,
                    prefix_dir,
                    names[i : i + DISK_BATCH],
                )
                if found:
                    yield [StoredIndex(si, mtime) for si, mtime in found]

    async def available_space(self) -> int:
        # The one file system call made on the reactor thread: statvfs reads
        # counters a local file system keeps in memory (1.8 us measured on
        # ext4, against about 100 us of CPU for a hand-off to the pool and
        # back), never the disk; upstream makes the same call inline. Only a
        # storage directory on a network file system would make it a round trip.
        try:
            return available_space(self.layout.storage_dir, self.reserved_space)
        except OSError as e:
            raise os_error("measure free space of", self.layout.storage_dir, e) from None

    async def add_corruption_advisory(
        self, kind: ShareKind, storage_index: StorageIndex, share_number: int, reason: bytes
    ) -> None:
        now = self._now()
        report = advisories.render_report(kind.value, storage_index, share_number, reason)
        name = advisories.report_name(now, storage_index, share_number)
        await run_io(
            self._pool,
            "write corruption advisory in",
            self.layout.advisories_dir,
            advisories.write_report,
            self.layout.advisories_dir,
            name,
            report,
        )

    def _now(self) -> float:
        # The reactor's clock when it has one, so tests with a fake reactor see its time.
        seconds = getattr(self._reactor, "seconds", time.time)
        return float(seconds())
