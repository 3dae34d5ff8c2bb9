"""The shares of one storage index in one directory: ``shares/<prefix>/<si>/``.

A share's kind is read from its container header (mutable magic, or an
immutable version number), as upstream does; entries that are not canonical
share numbers (temporary files, stray files) and files with an unknown
header are skipped, never fatal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from zope.interface import implementer

from tahoe_cloud.backends.disk import fileio, immutable, lease_journal, mutable
from tahoe_cloud.backends.disk.fileio import IOPool, run_io
from tahoe_cloud.backends.disk.layout import Layout, share_number_from_name
from tahoe_cloud.backends.interfaces import (
    IImmutableShare,
    IImmutableUpload,
    IMutableShare,
    IShareSet,
    ShareSetClosed,
)
from tahoe_cloud.errors import ShareNotFound
from tahoe_cloud.formats import ContainerFormatError
from tahoe_cloud.formats import immutable as immutable_format
from tahoe_cloud.formats import mutable as mutable_format
from tahoe_cloud.vocabulary import (
    Lease,
    ShareKind,
    StorageIndex,
    WriteEnabler,
    validate_share_number,
)

_PEEK = mutable_format.MAGIC_SIZE
_FIRST_READ = 16 * 1024


def kind_of(path: Path) -> ShareKind | None:
    """The kind of container in ``path``, or None if it is not one (blocking)."""
    with open(path, "rb") as f:
        prefix = f.read(_PEEK)
    if mutable_format.version_from_magic(prefix) is not None:
        return ShareKind.MUTABLE
    if immutable_format.is_immutable_header(prefix):
        return ShareKind.IMMUTABLE
    return None


def probe(path: Path) -> tuple[ShareKind | None, mutable.Parsed | None]:
    """The kind of container in ``path`` and, for a mutable one, its parse (blocking).

    One open and usually one read: a small file is read whole, so a mutable
    share's header, leases and data come with the listing at no extra call.
    A mutable container that does not parse is still listed (its parse is
    None; using it reports the error), as upstream lists by magic alone.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        with lease_journal.share_lock(path):
            return _probe(fd)
    finally:
        os.close(fd)


def _probe(fd: int) -> tuple[ShareKind | None, mutable.Parsed | None]:
    size = os.fstat(fd).st_size
    # One read of the first page tells the kind (and is a small mutable
    # share whole); an immutable share's data is not read needlessly.
    head = fileio.read_at(fd, 0, _FIRST_READ)
    if mutable_format.version_from_magic(head[:_PEEK]) is not None:
        try:
            if size > mutable.CACHE_LIMIT:
                parsed: mutable.Parsed | None = mutable.Parsed.from_fd(fd)
            else:
                if size > len(head):
                    head += fileio.read_at(fd, len(head), size - len(head))
                parsed = mutable.Parsed.from_blob(head)
        except ContainerFormatError:
            parsed = None
        return ShareKind.MUTABLE, parsed
    if immutable_format.is_immutable_header(head[:_PEEK]):
        return ShareKind.IMMUTABLE, None
    return None, None


Listing = dict[int, tuple[ShareKind, Path, "mutable.Parsed | None"]]


def list_shares(directory: Path) -> Listing:
    """Every share in ``directory`` (one listing plus one small read per share)."""
    found: Listing = {}
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        number = share_number_from_name(entry.name)
        if number is None or not entry.is_file():
            continue
        path = Path(entry.path)
        try:
            kind, parsed = probe(path)
        except FileNotFoundError:
            continue  # deleted since the listing
        if kind is not None:
            found[number] = (kind, path, parsed)
    return found


def read_all_leases(directory: Path) -> dict[int, list[Lease]]:
    result = {}
    for number, (kind, path, _) in list_shares(directory).items():
        reader = immutable.read_leases if kind is ShareKind.IMMUTABLE else mutable.read_leases
        try:
            result[number] = reader(path)
        except FileNotFoundError:
            continue
    return result


def write_share_leases(path: Path, leases: Sequence[Lease]) -> mutable.Parsed | None:
    """Replace one share's leases; returns the new parse of a mutable share."""
    kind = kind_of(path)
    if kind is ShareKind.IMMUTABLE:
        immutable.write_leases(path, leases)
        return None
    if kind is ShareKind.MUTABLE:
        return mutable.write_leases(path, leases)
    raise FileNotFoundError(path)


def write_all_leases(
    paths: Mapping[int, Path], leases: Mapping[int, Sequence[Lease]]
) -> dict[int, mutable.Parsed | None]:
    """``write_share_leases`` for several shares in one pool call; stops at the first failure."""
    return {number: write_share_leases(paths[number], leases[number]) for number in leases}


def delete_share(path: Path, shares_root: Path) -> None:
    fileio.discard(path)
    # Only the storage index's own directory: prefix directories are shared
    # with other storage indexes that may be busy in other threads.
    if path.parent.parent.parent == shares_root:
        try:
            path.parent.rmdir()
        except OSError:
            pass


@implementer(IShareSet)
class DiskShareSet:
    """``IShareSet`` over one storage index's directory.

    The core opens a share set for each operation (``DiskBackend.shareset``,
    no I/O) and, for a mutating one, holds the storage index's lock
    throughout. So a share set remembers what its ``list_shares`` read (each
    mutable share's parsed container included) and serves ``open_mutable``
    and mutable leases from it, keeping it current through its own writes:
    a read-test-write then costs three calls to the I/O pool (list, write,
    leases) instead of about nine. That memory is true only while the
    operation lasts: ``close`` (at the end of the block) forgets it and makes
    the share set and its mutable handles refuse further use.
    """

    def __init__(
        self,
        pool: IOPool,
        layout: Layout,
        storage_index: StorageIndex,
        budget: immutable.BufferBudget | None = None,
    ) -> None:
        self._pool = pool
        self._budget = budget
        self._layout = layout
        self.storage_index = storage_index
        self._dir = layout.share_dir(storage_index)
        self._known: Listing | None = None
        # Handles given out, kept current by _changed (they serve reads from their parse).
        self._handles: dict[int, list[mutable.DiskMutableShare]] = {}
        self._closed = False

    def close(self) -> None:
        """End of the operation: forget the listing, close the handles given out."""
        self._closed = True
        self._known = None
        for handles in self._handles.values():
            for handle in handles:
                handle.close()
        self._handles.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise ShareSetClosed(f"the share set of {self.storage_index} was used after its block")

    def _share_path(self, share_number: int) -> Path:
        # Not layout.share_path: that encodes the storage index again each time.
        return self._dir / str(validate_share_number(share_number))

    async def list_shares(self) -> dict[int, ShareKind]:
        self._check_open()
        self._known = await run_io(self._pool, "list", self._dir, list_shares, self._dir)
        return {number: kind for number, (kind, _, _) in self._known.items()}

    def _changed(self, share_number: int, parsed: mutable.Parsed | None) -> None:
        """Keep the listing and every handle given out current after a change made here."""
        if self._known is not None:
            if parsed is None:
                self._known.pop(share_number, None)
            else:
                self._known[share_number] = (
                    ShareKind.MUTABLE,
                    self._share_path(share_number),
                    parsed,
                )
        for handle in self._handles.get(share_number, ()):
            handle.refresh(parsed)

    def _handle(
        self,
        share_number: int,
        parsed: mutable.Parsed | None = None,
        create_with: WriteEnabler | None = None,
    ) -> mutable.DiskMutableShare:
        path = self._share_path(share_number)
        handle = mutable.DiskMutableShare(
            self._pool, path, share_number, create_with, parsed, on_change=self._changed
        )
        self._handles.setdefault(share_number, []).append(handle)
        return handle

    async def _open(self, share_number: int, want: ShareKind) -> Path:
        path = self._share_path(share_number)
        missing = ShareNotFound(f"no {want.value} share {share_number} for {self.storage_index}")
        kind = await run_io(self._pool, "open", path, kind_of, path, missing=missing)
        if kind is not want:
            raise missing
        return path

    async def open_immutable(self, share_number: int) -> IImmutableShare:
        self._check_open()
        path = await self._open(share_number, ShareKind.IMMUTABLE)
        return immutable.DiskImmutableShare(self._pool, path, share_number)

    async def start_immutable_upload(
        self, share_number: int, allocated_size: int
    ) -> IImmutableUpload:
        self._check_open()
        # No I/O here: the upload creates its staging file (or buffer) on its first write.
        staged = self._layout.incoming_path(self.storage_index, share_number)
        return immutable.DiskImmutableUpload(
            self._pool,
            staged,
            self._share_path(share_number),
            self._layout.incoming_dir,
            share_number,
            allocated_size,
            self._budget,
        )

    async def open_mutable(self, share_number: int) -> IMutableShare:
        self._check_open()
        path = self._share_path(share_number)
        missing = ShareNotFound(f"no mutable share {share_number} for {self.storage_index}")
        if self._known is not None:
            entry = self._known.get(share_number)
            if entry is None or entry[0] is not ShareKind.MUTABLE:
                raise missing
            parsed = entry[2]
        else:
            kind, parsed = await run_io(self._pool, "open", path, probe, path, missing=missing)
            if kind is not ShareKind.MUTABLE:
                raise missing
        return self._handle(share_number, parsed=parsed)

    def new_mutable(self, share_number: int, write_enabler: WriteEnabler) -> IMutableShare:
        self._check_open()
        return self._handle(share_number, create_with=write_enabler)

    async def read_leases(self) -> dict[int, list[Lease]]:
        self._check_open()
        known = self._known
        if known is not None and all(
            kind is ShareKind.MUTABLE and parsed is not None for kind, _, parsed in known.values()
        ):
            return {n: parsed.leases() for n, (_, _, parsed) in known.items() if parsed}
        return await run_io(self._pool, "read leases in", self._dir, read_all_leases, self._dir)

    async def write_leases(self, leases: Mapping[int, Sequence[Lease]]) -> None:
        self._check_open()
        if not leases:
            return
        paths = {n: self._share_path(n) for n in leases}
        missing = ShareNotFound(f"no share of {sorted(leases)} for {self.storage_index}")
        parsed = await run_io(
            self._pool,
            "write leases in",
            self._dir,
            write_all_leases,
            paths,
            {n: list(share_leases) for n, share_leases in leases.items()},
            missing=missing,
        )
        for number, new in parsed.items():
            if new is not None:
                self._changed(number, new)

    async def delete_share(self, share_number: int) -> None:
        self._check_open()
        path = self._share_path(share_number)
        await run_io(self._pool, "delete", path, delete_share, path, self._layout.shares_dir)
        self._changed(share_number, None)
