"""Immutable shares on disk: staged uploads in ``incoming/``, published by rename.

An upload is a real container file under ``shares/incoming/<prefix>/<si>/``
from the first byte, pre-sized to its allocated size, so a crash leaves only
an incoming file that ``DiskBackend.start()`` removes; nothing under
``shares/<prefix>/<si>/`` ever holds a partial share. ``publish()`` writes the
leases and the lease count into the staged file, fsyncs it and renames it
into place (``os.replace``), which is atomic on POSIX filesystems.

New containers are version 2 (hashed leases), as upstream 1.20 writes them.

Leases of a completed share are rewritten in place when their number does
not change (each record is rewritten where it is; the data and its length
are untouched). When the number changes, the data length (implied by the
file size and the count) would be wrong between the two writes, so the
change is journalled first (``lease_journal``): a lease costs a few small
writes and fsyncs whatever the share's size, never a copy of its data.

Small uploads (at most ``SMALL_UPLOAD`` bytes) are held in memory until
``publish()``, which writes the whole container to a staging file in
``incoming/rewrites/``, fsyncs it and renames it into place in one call to
the I/O pool: a 10 KiB share then costs one pool call for its bytes instead
of three (create, write, publish). Crash safety is the same (nothing is
visible until the rename; a crash loses only an unfinished upload, which
``start()`` would have removed anyway). The memory is bounded by a budget
shared by the backend (``BUFFER_BUDGET``); an upload that does not fit in it
is staged on disk as before. Bytes held in memory are not in the disk's free
space figure, so the core's space accounting can overcommit by at most that
budget. Larger uploads create their staging file with their first write, in
the same pool call, so allocate itself does no file I/O.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from zope.interface import implementer

from tahoe_cloud.backends.disk import fileio, lease_journal
from tahoe_cloud.backends.disk.fileio import IOPool, run_io
from tahoe_cloud.backends.interfaces import IImmutableShare, IImmutableUpload
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.formats import immutable as fmt
from tahoe_cloud.formats.lease_records import IMMUTABLE_LEASE_SIZE
from tahoe_cloud.vocabulary import Lease

_CREATE_RETRIES = 5

# Uploads up to this size are held in memory until publish (see the module docstring).
SMALL_UPLOAD = 128 * 1024
BUFFER_BUDGET = 32 * 1024 * 1024


class BufferBudget:
    """Bytes of small uploads held in memory, across one backend; never above ``limit``."""

    def __init__(self, limit: int = BUFFER_BUDGET) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used -= size


# --- blocking helpers (run in the I/O pool) -----------------------------------


def create_staged(path: Path, allocated_size: int) -> None:
    """Create the staging container; fails if one exists already."""
    for _ in range(_CREATE_RETRIES):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            # Another upload's publish removed the empty parent meanwhile.
            continue
        try:
            fileio.write_at(fd, 0, fmt.pack_header(fmt.NEWEST_VERSION, allocated_size, 0))
            os.ftruncate(fd, fmt.DATA_OFFSET + allocated_size)
        finally:
            os.close(fd)
        return
    raise BackendError(f"disk backend could not create {path}: its directory keeps vanishing")


def write_staged(path: Path, offset: int, data: bytes, create_size: int | None = None) -> None:
    """Write upload bytes; first create the staging file when ``create_size`` is given."""
    if create_size is not None:
        create_staged(path, create_size)
    fd = os.open(path, os.O_WRONLY)
    try:
        fileio.write_at(fd, fmt.DATA_OFFSET + offset, data)
    finally:
        os.close(fd)


def read_staged(path: Path, allocated_size: int, offset: int, size: int) -> bytes:
    size = max(0, min(size, allocated_size - offset))
    if size == 0:
        return b""
    fd = os.open(path, os.O_RDONLY)
    try:
        return fileio.read_at(fd, fmt.DATA_OFFSET + offset, size)
    finally:
        os.close(fd)


def publish_staged(
    staged: Path, final: Path, allocated_size: int, leases: Sequence[Lease], incoming_root: Path
) -> None:
    """Write leases into the staged container, then rename it into place."""
    fd = os.open(staged, os.O_RDWR)
    try:
        header = fmt.parse_header(fileio.read_at(fd, 0, fmt.HEADER_SIZE))
        area = fmt.encode_leases(header.version, leases)
        lease_at = fmt.lease_area_offset(allocated_size)
        os.ftruncate(fd, lease_at)
        fileio.write_at(fd, lease_at, area)
        fileio.write_at(fd, fmt.LEASE_COUNT_OFFSET, fmt.pack_lease_count(len(leases)))
        os.fsync(fd)
    finally:
        os.close(fd)
    final.parent.mkdir(parents=True, exist_ok=True)
    fileio.replace_atomically(staged, final)
    fileio.remove_empty_dirs(staged.parent, incoming_root)


def publish_whole(final: Path, container: bytes) -> None:
    """Write a whole container beside nothing visible, fsync it and rename it to ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    with fileio.replacement_file(final) as out:
        fileio.write_at(out, 0, container)


def abort_staged(staged: Path, incoming_root: Path) -> None:
    fileio.discard(staged)
    fileio.remove_empty_dirs(staged.parent, incoming_root)


def _open_share(path: Path, mode: int = os.O_RDONLY) -> tuple[int, fmt.ImmutableHeader, int]:
    """(fd, header, data length) of a completed share; the caller closes fd."""
    fd = os.open(path, mode)
    try:
        # Count and size read together: a lease change in another thread moves both.
        with lease_journal.share_lock(path):
            header = fmt.parse_header(fileio.read_at(fd, 0, fmt.HEADER_SIZE))
            length = fmt.data_length(os.fstat(fd).st_size, header.lease_count)
    except BaseException:
        os.close(fd)
        raise
    return fd, header, length


def share_size(path: Path) -> int:
    fd, _, length = _open_share(path)
    os.close(fd)
    return length


def read_share(path: Path, offset: int, size: int) -> bytes:
    fd, _, length = _open_share(path)
    try:
        # Reads stop at the lease area: it is not share data.
        size = max(0, min(size, length - offset))
        return fileio.read_at(fd, fmt.DATA_OFFSET + offset, size) if size else b""
    finally:
        os.close(fd)


def read_leases(path: Path) -> list[Lease]:
    with lease_journal.share_lock(path):
        fd, header, length = _open_share(path)
        try:
            area = fileio.read_at(
                fd, fmt.lease_area_offset(length), header.lease_count * IMMUTABLE_LEASE_SIZE
            )
        finally:
            os.close(fd)
    return fmt.decode_leases(header.version, area)


def write_leases(path: Path, leases: Sequence[Lease]) -> None:
    """Replace the leases of a completed share, keeping its container version.

    The share data is never copied: the same number of records is rewritten
    where it is; a new number goes through ``lease_journal`` (see there).
    """
    with lease_journal.share_lock(path):
        fd, header, length = _open_share(path, os.O_RDWR)
        try:
            area = fmt.encode_leases(header.version, leases)
            lease_at = fmt.lease_area_offset(length)
            if len(leases) == header.lease_count:
                fileio.write_at(fd, lease_at, area)
                os.fsync(fd)
                return
            edits = [(lease_at, area), (fmt.LEASE_COUNT_OFFSET, fmt.pack_lease_count(len(leases)))]
            shares_dir = path.parents[2]
            lease_journal.change_in_place(fd, path, shares_dir, edits, lease_at + len(area))
        finally:
            os.close(fd)


# --- the interface providers ---------------------------------------------------


@implementer(IImmutableUpload)
class DiskImmutableUpload:
    """An upload held in memory or staged in ``incoming/``; see the module docstring."""

    def __init__(
        self,
        pool: IOPool,
        staged: Path,
        final: Path,
        incoming_root: Path,
        share_number: int,
        allocated_size: int,
        budget: BufferBudget | None = None,
    ) -> None:
        self._pool = pool
        self._staged = staged
        self._final = final
        self._incoming_root = incoming_root
        self.share_number = share_number
        self.allocated_size = allocated_size
        self._budget = budget if budget is not None else BufferBudget(0)
        self._buffer: bytearray | None = None
        self._created = False  # the staging file exists

    def _use_memory(self) -> bool:
        if self._buffer is None and not self._created and self.allocated_size <= SMALL_UPLOAD:
            if self._budget.take(self.allocated_size):
                self._buffer = bytearray(self.allocated_size)
        return self._buffer is not None

    def _release(self) -> None:
        if self._buffer is not None:
            self._buffer = None
            self._budget.give_back(self.allocated_size)

    async def write(self, offset: int, data: bytes) -> None:
        if self._use_memory():
            assert self._buffer is not None
            self._buffer[offset : offset + len(data)] = data
            return
        create = None if self._created else self.allocated_size
        await run_io(
            self._pool,
            "write upload",
            self._staged,
            write_staged,
            self._staged,
            offset,
            data,
            create,
        )
        self._created = True

    async def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.allocated_size - offset))
        if self._buffer is not None:
            return bytes(self._buffer[offset : offset + size])
        if not self._created:
            return bytes(size)  # nothing written yet reads as zeros, as a pre-sized file does
        return await run_io(
            self._pool,
            "read upload",
            self._staged,
            read_staged,
            self._staged,
            self.allocated_size,
            offset,
            size,
        )

    async def publish(self, leases: Sequence[Lease]) -> None:
        if not self._created and self._use_memory():
            assert self._buffer is not None
            container = fmt.build_container(fmt.NEWEST_VERSION, bytes(self._buffer), leases)
            await run_io(
                self._pool, "publish upload", self._final, publish_whole, self._final, container
            )
            self._release()
            return
        if not self._created:
            # Never written (only possible when nothing was allocated): create it now.
            await run_io(
                self._pool,
                "start upload",
                self._staged,
                create_staged,
                self._staged,
                self.allocated_size,
            )
            self._created = True
        await run_io(
            self._pool,
            "publish upload",
            self._staged,
            publish_staged,
            self._staged,
            self._final,
            self.allocated_size,
            list(leases),
            self._incoming_root,
        )

    async def abort(self) -> None:
        self._release()
        if not self._created:
            return
        await run_io(
            self._pool,
            "abort upload",
            self._staged,
            abort_staged,
            self._staged,
            self._incoming_root,
        )


@implementer(IImmutableShare)
class DiskImmutableShare:
    """A completed immutable share file (any container version)."""

    def __init__(self, pool: IOPool, path: Path, share_number: int) -> None:
        self._pool = pool
        self._path = path
        self.share_number = share_number

    def _missing(self) -> ShareNotFound:
        return ShareNotFound(f"no immutable share {self.share_number}")

    async def size(self) -> int:
        return await run_io(
            self._pool, "read share", self._path, share_size, self._path, missing=self._missing()
        )

    async def read(self, offset: int, size: int) -> bytes:
        return await run_io(
            self._pool,
            "read share",
            self._path,
            read_share,
            self._path,
            offset,
            size,
            missing=self._missing(),
        )
