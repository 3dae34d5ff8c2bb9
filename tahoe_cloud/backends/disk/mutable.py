"""Mutable shares on disk: every write rewrites the container into a new file.

``write()`` builds the whole new container in a staging file in
``shares/incoming/rewrites/`` (which ``DiskBackend.start()`` empties), fsyncs
it, renames it over the old file and fsyncs the directory. After a crash the
share is therefore wholly old or wholly new, never half written, unlike
upstream's in-place update. The cost: each write copies the whole share
(small ones in memory, larger ones streamed in 1 MiB pieces), so a write to
an N-byte share does O(N) disk I/O. Mutable shares are small in practice
(SDMF directories, MDMF files written in segments); this is the price of
crash atomicity without a journal.

Containers written here are compact: the extra-lease block sits right after
the data. Existing containers keep their version (v1 stays v1, with clear
lease secrets); new ones are created as version 2, as upstream 1.20 does.
Lease changes never rewrite the data: the same number of extra-lease records
is rewritten in place, a new number is journalled (``lease_journal``).

A read-test-write touches the file system as few times as it can: the share
set's listing reads each small container (at most ``CACHE_LIMIT`` bytes)
whole and keeps its parse (``Parsed``), from which the write enabler, the
size and the test and read vectors are answered; the write is one pool call
that builds the new container in memory and writes it with one ``pwrite``;
the core skips lease writes that would store the same leases (a renewal in
the same second). So a typical read-test-write costs two pool calls (list,
write) and two fsyncs (the staged file, then the directory after the rename),
against about nine calls, three fsyncs and fifteen opens before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from zope.interface import implementer

from tahoe_cloud.backends.disk import fileio, lease_journal
from tahoe_cloud.backends.disk.fileio import IOPool, run_io
from tahoe_cloud.backends.interfaces import IMutableShare, ShareSetClosed
from tahoe_cloud.errors import BackendError, ShareNotFound, ShareTooLarge
from tahoe_cloud.formats import ContainerFormatError
from tahoe_cloud.formats import mutable as fmt
from tahoe_cloud.formats.lease_records import MUTABLE_LEASE_SIZE
from tahoe_cloud.vocabulary import MAX_MUTABLE_SHARE_SIZE, Lease, WriteEnabler, WriteVector

_SLOTS_SIZE = fmt.DATA_OFFSET - fmt.LEASE_SLOTS_OFFSET

# Containers up to this size are read (and rewritten) whole, in one call, and
# their data served from memory for the rest of the operation.
CACHE_LIMIT = 256 * 1024


class Parsed:
    """An existing container as read once: header, lease records and, if small, its data.

    Built from one read of the whole file when the file is at most
    ``CACHE_LIMIT`` bytes (a directory-sized share), else from the header and
    lease areas only (``data`` is None and reads go to the file).
    """

    def __init__(
        self,
        header: fmt.MutableHeader,
        slots: bytes,
        extra_count: int,
        extra_records: bytes,
        data: bytes | None,
    ) -> None:
        self.header = header
        self.slots = slots
        self.extra_count = extra_count
        self.extra_records = extra_records
        self.data = data

    @classmethod
    def from_blob(cls, blob: bytes) -> Parsed:
        """Parse a whole container file held in memory."""
        header = fmt.parse_header(blob[: fmt.HEADER_SIZE])
        extra_at = header.extra_lease_offset
        count = fmt.parse_extra_count(blob[extra_at : extra_at + 4])
        size = count * MUTABLE_LEASE_SIZE
        return cls._checked(
            header,
            blob[fmt.LEASE_SLOTS_OFFSET : fmt.DATA_OFFSET],
            count,
            blob[extra_at + 4 : extra_at + 4 + size],
            blob[fmt.DATA_OFFSET : fmt.DATA_OFFSET + header.data_length],
        )

    @classmethod
    def from_fd(cls, fd: int) -> Parsed:
        """Parse an open container: one read if it is small, three otherwise."""
        if os.fstat(fd).st_size <= CACHE_LIMIT:
            return cls.from_blob(fileio.read_at(fd, 0, CACHE_LIMIT + 1))
        header = fmt.parse_header(fileio.read_at(fd, 0, fmt.HEADER_SIZE))
        extra_at = header.extra_lease_offset
        count = fmt.parse_extra_count(fileio.read_at(fd, extra_at, 4))
        return cls._checked(
            header,
            fileio.read_at(fd, fmt.LEASE_SLOTS_OFFSET, _SLOTS_SIZE),
            count,
            fileio.read_at(fd, extra_at + 4, count * MUTABLE_LEASE_SIZE),
            None,
        )

    @classmethod
    def _checked(
        cls,
        header: fmt.MutableHeader,
        slots: bytes,
        count: int,
        records: bytes,
        data: bytes | None,
    ) -> Parsed:
        if len(slots) != _SLOTS_SIZE:
            raise ContainerFormatError("mutable container truncated in its lease slots")
        if len(records) != count * MUTABLE_LEASE_SIZE:
            raise ContainerFormatError("mutable container truncated in its extra leases")
        return cls(header, slots, count, records, data)

    def leases(self) -> list[Lease]:
        version = self.header.version
        return fmt.decode_lease_records(version, self.slots) + fmt.decode_lease_records(
            version, self.extra_records
        )

    def write_enabler(self) -> WriteEnabler:
        return WriteEnabler(
            nodeid=self.header.write_enabler_nodeid, secret=self.header.write_enabler
        )

    def read(self, offset: int, size: int) -> bytes:
        """Share data from memory; only when ``data`` is not None."""
        assert self.data is not None
        size = max(0, min(size, self.header.data_length - offset))
        return self.data[offset : offset + size] if size else b""


def _write_container(
    path: Path,
    old_fd: int,
    old: Parsed | None,
    header: fmt.MutableHeader,
    slots: bytes,
    extra_block: bytes,
    writes: Sequence[WriteVector],
) -> Parsed:
    """Write a compact container to a staging file and rename it over ``path``.

    Share data = the first ``min(old length, new length)`` old bytes, zeros up
    to the new length, then ``writes`` applied in order (clipped to it).
    Small shares are built in memory and written with one call; larger ones
    are copied from ``old_fd`` in pieces. Returns the new container's parse.
    """
    length = header.data_length
    extra_at = fmt.DATA_OFFSET + length
    packed = fmt.pack_header(
        header.version, header.write_enabler_nodeid, header.write_enabler, length, extra_at
    )
    new_header = fmt.parse_header(packed)
    count = fmt.parse_extra_count(extra_block[:4])
    records = extra_block[4:]
    if extra_at + len(extra_block) <= CACHE_LIMIT and (old is None or old.data is not None):
        data = bytearray(old.data[:length] if old is not None and old.data is not None else b"")
        if old is not None and len(data) < min(old.header.data_length, length):
            raise BackendError("share file is shorter than its header says")
        data.extend(bytes(length - len(data)))
        for vector in writes:
            piece = vector.data[: max(0, length - vector.offset)]
            data[vector.offset : vector.offset + len(piece)] = piece
        new_data = bytes(data)
        with fileio.replacement_file(path) as out:
            fileio.write_at(out, 0, b"".join([packed, slots, new_data, extra_block]))
        return Parsed(new_header, slots, count, records, new_data)
    with fileio.replacement_file(path) as out:
        fileio.write_at(out, 0, packed)
        fileio.write_at(out, fmt.LEASE_SLOTS_OFFSET, slots)
        if old is not None:
            keep = min(old.header.data_length, length)
            if old.data is not None:  # a small share growing past CACHE_LIMIT
                fileio.write_at(out, fmt.DATA_OFFSET, old.data[:keep])
            else:
                fileio.copy_range(old_fd, out, fmt.DATA_OFFSET, fmt.DATA_OFFSET, keep)
        # Extending the file reads back as zeros: the zero-filled holes.
        os.ftruncate(out, extra_at)
        for vector in writes:
            piece = vector.data[: max(0, length - vector.offset)]
            if piece:
                fileio.write_at(out, fmt.DATA_OFFSET + vector.offset, piece)
        fileio.write_at(out, extra_at, extra_block)
    return Parsed(new_header, slots, count, records, None)


def write_share(
    path: Path,
    writes: Sequence[WriteVector],
    new_length: int | None,
    create_with: WriteEnabler | None,
    known: Parsed | None = None,
) -> Parsed:
    """Apply ``writes`` then ``new_length``; create the share if ``create_with`` is given.

    ``known`` is the current container's parse when the caller holds it with
    its data (under the core's lock it cannot be stale): the old file is then
    not read again. Each system call here also costs a round for the GIL
    against the reactor thread (strace counted over a hundred futex calls per
    read-test-write), so the fewer the better.
    """
    fd = -1
    old = known if known is not None and known.data is not None else None
    if old is None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            if create_with is None:
                raise
    try:
        if fd >= 0:
            old = Parsed.from_fd(fd)
        length = old.header.data_length if old else 0
        for vector in writes:
            if vector.data:
                length = max(length, vector.offset + len(vector.data))
        if new_length is not None:
            length = new_length
        if length > MAX_MUTABLE_SHARE_SIZE:
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
        return _write_container(path, fd, old, new_header, slots, extra, writes)
    finally:
        if fd >= 0:
            os.close(fd)


def load(path: Path) -> Parsed:
    """Open and parse a mutable container (one open, usually one read)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        with lease_journal.share_lock(path):
            return Parsed.from_fd(fd)
    finally:
        os.close(fd)


def read_share(path: Path, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        header = fmt.parse_header(fileio.read_at(fd, 0, fmt.HEADER_SIZE))
        size = max(0, min(size, header.data_length - offset))
        return fileio.read_at(fd, fmt.DATA_OFFSET + offset, size) if size else b""
    finally:
        os.close(fd)


def read_leases(path: Path) -> list[Lease]:
    return load(path).leases()


def write_leases(path: Path, leases: Sequence[Lease]) -> Parsed:
    """Replace all leases in place (the data is never copied); returns the new parse."""
    with lease_journal.share_lock(path):
        return _write_leases(path, leases)


def _write_leases(path: Path, leases: Sequence[Lease]) -> Parsed:
    fd = os.open(path, os.O_RDWR)
    try:
        old = Parsed.from_fd(fd)
        version = old.header.version
        fixed, extra = fmt.split_leases(list(leases))
        slots = fmt.encode_lease_slots(version, fixed)
        block = fmt.encode_extra_leases(version, extra)
        extra_at = old.header.extra_lease_offset
        if len(extra) == old.extra_count:
            fileio.write_at(fd, fmt.LEASE_SLOTS_OFFSET, slots)
            fileio.write_at(fd, extra_at, block)
            os.fsync(fd)
        else:
            # The extra-lease count and the file's end move: journalled, data untouched.
            edits = [(fmt.LEASE_SLOTS_OFFSET, slots), (extra_at, block)]
            lease_journal.change_in_place(fd, path, path.parents[2], edits, extra_at + len(block))
        return Parsed(old.header, slots, len(extra), block[4:], old.data)
    finally:
        os.close(fd)


ChangeListener = Callable[[int, "Parsed | None"], None]


@implementer(IMutableShare)
class DiskMutableShare:
    """One mutable share file; a handle from ``new_mutable`` creates it on first write.

    The handle remembers the container it parsed (passed in from the share
    set's listing, or read on first use) and answers ``write_enabler``,
    ``size``, reads of small shares and the next write from it. That is sound
    because a handle lives for one operation of the core (its share set's
    block, after which it refuses to be used): mutations of a
    storage index happen only under the core's lock, and a locked operation
    mutates only through its own share set and handles, which its share set
    keeps current after each change (``refresh``).
    """

    def __init__(
        self,
        pool: IOPool,
        path: Path,
        share_number: int,
        create_with: WriteEnabler | None = None,
        parsed: Parsed | None = None,
        on_change: ChangeListener | None = None,
    ) -> None:
        self._pool = pool
        self._path = path
        self.share_number = share_number
        self._create_with = create_with
        self._parsed = parsed
        self._on_change = on_change
        self._closed = False

    def close(self) -> None:
        """Its share set's block ended: what the handle remembers may be stale now."""
        self._closed = True
        self._parsed = None

    def _check_open(self) -> None:
        if self._closed:
            raise ShareSetClosed(f"mutable share {self.share_number} was used after its block")

    def _missing(self) -> ShareNotFound:
        return ShareNotFound(f"no mutable share {self.share_number}")

    def refresh(self, parsed: Parsed | None) -> None:
        """The share was changed through its share set: ``parsed`` is its new state.

        None (deleted) makes the handle read the file again when next used.
        """
        self._parsed = parsed

    async def _load(self) -> Parsed | None:
        """The parsed container (read once), or None for a share not created yet."""
        self._check_open()
        if self._parsed is None:
            try:
                self._parsed = await run_io(
                    self._pool, "read share", self._path, load, self._path, missing=self._missing()
                )
            except ShareNotFound:
                if self._create_with is None:
                    raise
                return None
        return self._parsed

    async def write_enabler(self) -> WriteEnabler:
        parsed = await self._load()
        if parsed is None:
            assert self._create_with is not None
            return self._create_with
        return parsed.write_enabler()

    async def size(self) -> int:
        parsed = await self._load()
        return 0 if parsed is None else parsed.header.data_length

    async def read(self, offset: int, size: int) -> bytes:
        parsed = await self._load()
        if parsed is None:
            return b""
        if parsed.data is not None:
            return parsed.read(offset, size)
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
        self._check_open()
        parsed = await run_io(
            self._pool,
            "write share",
            self._path,
            write_share,
            self._path,
            list(writes),
            new_length,
            self._create_with,
            self._parsed,
            missing=self._missing(),
        )
        # Once created, this handle behaves like one from open_mutable.
        self._create_with = None
        self._parsed = parsed
        if self._on_change is not None:
            self._on_change(self.share_number, parsed)
