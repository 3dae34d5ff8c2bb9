"""Mutable shares on disk: every write rewrites the container into a new file.

``write()`` builds the whole new container in a temporary file beside the
share (``.<shnum>.tmp-<hex>``, a name no listing takes for a share and
``DiskBackend.start()`` sweeps), fsyncs it and renames it over the old file.
After a crash the share is therefore wholly old or wholly new, never half
written, unlike upstream's in-place update. The cost: each write copies the
whole share (streamed in 1 MiB pieces, never held in memory), so a write to
an N-byte share does O(N) disk I/O. Mutable shares are small in practice
(SDMF directories, MDMF files written in segments); this is the price of
crash atomicity without a journal.

Containers written here are compact: the extra-lease block sits right after
the data. Existing containers keep their version (v1 stays v1, with clear
lease secrets); new ones are created as version 2, as upstream 1.20 does.
Lease rewrites that keep the same number of extra-lease records are done in
place (the data is not touched); otherwise the container is rewritten too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from zope.interface import implementer

from tahoe_cloud.backends.disk import fileio
from tahoe_cloud.backends.disk.fileio import IOPool, run_io
from tahoe_cloud.backends.interfaces import IMutableShare
from tahoe_cloud.errors import ShareNotFound, ShareTooLarge
from tahoe_cloud.formats import ContainerFormatError
from tahoe_cloud.formats import mutable as fmt
from tahoe_cloud.formats.lease_records import MUTABLE_LEASE_SIZE
from tahoe_cloud.leases import Lease, WriteEnabler
from tahoe_cloud.server.messages import WriteVector

_SLOTS_SIZE = fmt.DATA_OFFSET - fmt.LEASE_SLOTS_OFFSET


class _Opened:
    """The parts of an existing container a rewrite needs (blocking reads)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.header = fmt.parse_header(fileio.read_at(fd, 0, fmt.HEADER_SIZE))
        self.slots = fileio.read_at(fd, fmt.LEASE_SLOTS_OFFSET, _SLOTS_SIZE)
        if len(self.slots) != _SLOTS_SIZE:
            raise ContainerFormatError("mutable container truncated in its lease slots")
        extra_at = self.header.extra_lease_offset
        self.extra_count = fmt.parse_extra_count(fileio.read_at(fd, extra_at, 4))
        size = self.extra_count * MUTABLE_LEASE_SIZE
        self.extra_records = fileio.read_at(fd, extra_at + 4, size)
        if len(self.extra_records) != size:
            raise ContainerFormatError("mutable container truncated in its extra leases")

    def leases(self) -> list[Lease]:
        version = self.header.version
        return fmt.decode_lease_records(version, self.slots) + fmt.decode_lease_records(
            version, self.extra_records
        )


def _write_container(
    path: Path,
    old: _Opened | None,
    header: fmt.MutableHeader,
    slots: bytes,
    extra_block: bytes,
    writes: Sequence[WriteVector],
) -> None:
    """Write a compact container to a temporary file and rename it over ``path``.

    Share data = the first ``min(old length, new length)`` old bytes, zeros up
    to the new length, then ``writes`` applied in order (clipped to it).
    """
    length = header.data_length
    extra_at = fmt.DATA_OFFSET + length
    with fileio.replacement_file(path) as out:
        fileio.write_at(
            out,
            0,
            fmt.pack_header(
                header.version,
                header.write_enabler_nodeid,
                header.write_enabler,
                length,
                extra_at,
            ),
        )
        fileio.write_at(out, fmt.LEASE_SLOTS_OFFSET, slots)
        if old is not None:
            keep = min(old.header.data_length, length)
            fileio.copy_range(old.fd, out, fmt.DATA_OFFSET, fmt.DATA_OFFSET, keep)
        # Extending the file reads back as zeros: the zero-filled holes.
        os.ftruncate(out, extra_at)
        for vector in writes:
            piece = vector.data[: max(0, length - vector.offset)]
            if piece:
                fileio.write_at(out, fmt.DATA_OFFSET + vector.offset, piece)
        fileio.write_at(out, extra_at, extra_block)


def write_share(
    path: Path,
    writes: Sequence[WriteVector],
    new_length: int | None,
    create_with: WriteEnabler | None,
) -> None:
    """Apply ``writes`` then ``new_length``; create the share if ``create_with`` is given."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if create_with is None:
            raise
        fd = -1
    try:
        old = _Opened(fd) if fd >= 0 else None
        length = old.header.data_length if old else 0
        for vector in writes:
            if vector.data:
                length = max(length, vector.offset + len(vector.data))
        if new_length is not None:
            length = new_length
        if length > fmt.MAX_SHARE_SIZE:
            raise ShareTooLarge("the mutable share would exceed the maximum share size")
        if old is not None:
            header, slots = old.header, old.slots
            extra = fmt.EXTRA_COUNT.pack(old.extra_count) + old.extra_records
        else:
            assert create_with is not None
            header = fmt.parse_header(
                fmt.pack_header(
                    fmt.NEWEST_VERSION,
                    create_with.nodeid,
                    create_with.secret,
                    0,
                    fmt.DATA_OFFSET,
                )
            )
            slots = fmt.encode_lease_slots(fmt.NEWEST_VERSION, [])
            extra = fmt.encode_extra_leases(fmt.NEWEST_VERSION, [])
            path.parent.mkdir(parents=True, exist_ok=True)
        new_header = fmt.MutableHeader(
            version=header.version,
            write_enabler_nodeid=header.write_enabler_nodeid,
            write_enabler=header.write_enabler,
            data_length=length,
            extra_lease_offset=fmt.DATA_OFFSET + length,
        )
        _write_container(path, old, new_header, slots, extra, writes)
    finally:
        if fd >= 0:
            os.close(fd)


def read_header(path: Path) -> fmt.MutableHeader:
    with open(path, "rb") as f:
        return fmt.parse_header(f.read(fmt.HEADER_SIZE))


def read_share(path: Path, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        header = fmt.parse_header(fileio.read_at(fd, 0, fmt.HEADER_SIZE))
        size = max(0, min(size, header.data_length - offset))
        return fileio.read_at(fd, fmt.DATA_OFFSET + offset, size) if size else b""
    finally:
        os.close(fd)


def read_leases(path: Path) -> list[Lease]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return _Opened(fd).leases()
    finally:
        os.close(fd)


def write_leases(path: Path, leases: Sequence[Lease]) -> None:
    """Replace all leases, in place when the extra block keeps its size."""
    fd = os.open(path, os.O_RDWR)
    try:
        old = _Opened(fd)
        version = old.header.version
        fixed, extra = fmt.split_leases(list(leases))
        slots = fmt.encode_lease_slots(version, fixed)
        block = fmt.encode_extra_leases(version, extra)
        if len(extra) == old.extra_count:
            fileio.write_at(fd, fmt.LEASE_SLOTS_OFFSET, slots)
            fileio.write_at(fd, old.header.extra_lease_offset, block)
            os.fsync(fd)
            return
        _write_container(path, old, old.header, slots, block, ())
    finally:
        os.close(fd)


@implementer(IMutableShare)
class DiskMutableShare:
    """One mutable share file; a handle from ``new_mutable`` creates it on first write."""

    def __init__(
        self,
        pool: IOPool,
        path: Path,
        share_number: int,
        create_with: WriteEnabler | None = None,
    ) -> None:
        self._pool = pool
        self._path = path
        self.share_number = share_number
        self._create_with = create_with

    def _missing(self) -> ShareNotFound:
        return ShareNotFound(f"no mutable share {self.share_number}")

    async def _exists(self) -> bool:
        return await run_io(self._pool, "check share", self._path, self._path.exists)

    async def write_enabler(self) -> WriteEnabler:
        if self._create_with is not None and not await self._exists():
            return self._create_with
        header = await run_io(
            self._pool, "read share", self._path, read_header, self._path, missing=self._missing()
        )
        return WriteEnabler(nodeid=header.write_enabler_nodeid, secret=header.write_enabler)

    async def size(self) -> int:
        if self._create_with is not None and not await self._exists():
            return 0
        header = await run_io(
            self._pool, "read share", self._path, read_header, self._path, missing=self._missing()
        )
        return header.data_length

    async def read(self, offset: int, size: int) -> bytes:
        if self._create_with is not None and not await self._exists():
            return b""
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

    async def write(self, writes: Sequence[WriteVector], new_length: int | None) -> None:
        await run_io(
            self._pool,
            "write share",
            self._path,
            write_share,
            self._path,
            list(writes),
            new_length,
            self._create_with,
            missing=self._missing(),
        )
        # Once created, this handle behaves like one from open_mutable.
        self._create_with = None
