"""Upstream's mutable share container (versions 1 and 2).

Layout of one mutable share file::

    offset   size     field
    0        32       magic: b"Tahoe mutable container v<N>\\n" + 5 marker bytes
    32       20       node id of the server that recorded the write enabler
    52       32       write enabler (always in clear, both versions)
    84       8        data length A (big-endian)
    92       8        extra-lease offset E (big-endian)
    100      368      four lease slots of 92 bytes (owner 0 = empty slot)
    468      A        share data
    E        4        count M of extra leases   (E >= 468 + A)
    E + 4    92 * M   extra lease records

Version 1 keeps lease secrets in clear, version 2 keeps their blake2b
digests; nothing else differs. Upstream 1.20 creates version 2. Upstream
never shrinks a container, so bytes between 468 + A and E may be stale;
readers must stop at A. The 5 marker bytes of v1 are historical; those of
v2 are ``tagged_hash(b"allmydata_mutable_container_header", human part)[:5]``
(checked against stock 1.20: ``c3 55 21 99 25``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from attrs import frozen

from tahoe_cloud.formats import ContainerFormatError
from tahoe_cloud.formats.lease_records import (
    EMPTY_MUTABLE_SLOT,
    MUTABLE_LEASE_SIZE,
    pack_mutable_lease,
    unpack_mutable_lease,
)
from tahoe_cloud.vocabulary import MAX_MUTABLE_SHARE_SIZE, NODEID_BYTES, SECRET_BYTES, Lease

MAGIC_V1 = b"Tahoe mutable container v1\n" + bytes.fromhex("750944038e")
MAGIC_V2 = b"Tahoe mutable container v2\n" + bytes.fromhex("c355219925")
MAGICS = {1: MAGIC_V1, 2: MAGIC_V2}
NEWEST_VERSION = 2
MAGIC_SIZE = 32

HEADER = struct.Struct(">32s20s32sQQ")
HEADER_SIZE = HEADER.size
DATA_LENGTH_OFFSET = 84
EXTRA_LEASE_OFFSET_OFFSET = 92
LEASE_SLOTS_OFFSET = HEADER_SIZE
FIXED_LEASE_SLOTS = 4
DATA_OFFSET = LEASE_SLOTS_OFFSET + FIXED_LEASE_SLOTS * MUTABLE_LEASE_SIZE
EXTRA_COUNT = struct.Struct(">L")
assert HEADER_SIZE == 100 and DATA_OFFSET == 468


def version_from_magic(prefix: bytes) -> int | None:
    """The container version if ``prefix`` starts with a mutable magic, else None."""
    for version, magic in MAGICS.items():
        if prefix[:MAGIC_SIZE] == magic:
            return version
    return None


@frozen(repr=False)
class MutableHeader:
    """The fixed 100-byte header (the write enabler is a secret: no repr)."""

    version: int
    write_enabler_nodeid: bytes
    write_enabler: bytes
    data_length: int
    extra_lease_offset: int

    def __repr__(self) -> str:
        return (
            f"MutableHeader(version={self.version}, data_length={self.data_length}, "
            f"extra_lease_offset={self.extra_lease_offset})"
        )

    @property
    def hashed(self) -> bool:
        return self.version >= 2


def pack_header(
    version: int, nodeid: bytes, write_enabler: bytes, data_length: int, extra_lease_offset: int
) -> bytes:
    """The 100-byte fixed header."""
    if version not in MAGICS:
        raise ContainerFormatError(f"unknown mutable container version {version}")
    if len(nodeid) != NODEID_BYTES or len(write_enabler) != SECRET_BYTES:
        raise ContainerFormatError("write enabler must be 32 bytes and its node id 20")
    if not 0 <= data_length <= MAX_MUTABLE_SHARE_SIZE:
        raise ContainerFormatError("mutable share data length out of range")
    if extra_lease_offset < DATA_OFFSET + data_length:
        raise ContainerFormatError("extra-lease offset inside the share data")
    return HEADER.pack(MAGICS[version], nodeid, write_enabler, data_length, extra_lease_offset)


def parse_header(data: bytes) -> MutableHeader:
    """Decode and sanity-check the fixed header."""
    if len(data) < HEADER_SIZE:
        raise ContainerFormatError("mutable container shorter than its header")
    magic, nodeid, enabler, length, extra = HEADER.unpack(data[:HEADER_SIZE])
    version = version_from_magic(magic)
    if version is None:
        raise ContainerFormatError("not a mutable container (unknown magic)")
    if length > MAX_MUTABLE_SHARE_SIZE or extra < DATA_OFFSET + length:
        raise ContainerFormatError("mutable container header is inconsistent")
    return MutableHeader(
        version=version,
        write_enabler_nodeid=nodeid,
        write_enabler=enabler,
        data_length=length,
        extra_lease_offset=extra,
    )


def split_leases(leases: Sequence[Lease]) -> tuple[Sequence[Lease], Sequence[Lease]]:
    """(leases for the four fixed slots, leases for the extra block)."""
    return leases[:FIXED_LEASE_SLOTS], leases[FIXED_LEASE_SLOTS:]


def encode_lease_slots(version: int, leases: Sequence[Lease]) -> bytes:
    """The 368 bytes of the fixed slots holding up to four leases (the rest empty)."""
    if len(leases) > FIXED_LEASE_SLOTS:
        raise ContainerFormatError("only four leases fit in the fixed slots")
    hashed = version >= 2
    records = [pack_mutable_lease(lease, hashed=hashed) for lease in leases]
    records += [EMPTY_MUTABLE_SLOT] * (FIXED_LEASE_SLOTS - len(records))
    return b"".join(records)


def encode_extra_leases(version: int, leases: Sequence[Lease]) -> bytes:
    """The extra-lease block: a count then the records."""
    hashed = version >= 2
    return EXTRA_COUNT.pack(len(leases)) + b"".join(
        pack_mutable_lease(lease, hashed=hashed) for lease in leases
    )


def decode_lease_records(version: int, records: bytes) -> list[Lease]:
    """Decode consecutive 92-byte records, skipping empty slots."""
    if len(records) % MUTABLE_LEASE_SIZE:
        raise ContainerFormatError("mutable lease area is not a whole number of records")
    hashed = version >= 2
    found = []
    for i in range(0, len(records), MUTABLE_LEASE_SIZE):
        lease = unpack_mutable_lease(records[i : i + MUTABLE_LEASE_SIZE], hashed=hashed)
        if lease is not None:
            found.append(lease)
    return found


def parse_extra_count(data: bytes) -> int:
    """The count at the extra-lease offset."""
    if len(data) != EXTRA_COUNT.size:
        raise ContainerFormatError("mutable container truncated at its extra-lease count")
    (count,) = EXTRA_COUNT.unpack(data)
    return int(count)


@frozen(repr=False)
class MutableContainer:
    """A whole mutable container in memory (tests and small shares only)."""

    header: MutableHeader
    data: bytes
    leases: tuple[Lease, ...]

    def __repr__(self) -> str:
        sizes = f"{len(self.data)} bytes, {len(self.leases)} leases"
        return f"MutableContainer({self.header!r}, {sizes})"


def build_container(
    version: int, nodeid: bytes, write_enabler: bytes, data: bytes, leases: Sequence[Lease]
) -> bytes:
    """Serialize a compact container (extra leases right after the data)."""
    fixed, extra = split_leases(leases)
    return b"".join(
        [
            pack_header(version, nodeid, write_enabler, len(data), DATA_OFFSET + len(data)),
            encode_lease_slots(version, fixed),
            data,
            encode_extra_leases(version, extra),
        ]
    )


def parse_container(blob: bytes) -> MutableContainer:
    """Parse a whole container held in memory (compact or not)."""
    header = parse_header(blob)
    slots = blob[LEASE_SLOTS_OFFSET:DATA_OFFSET]
    if len(slots) != FIXED_LEASE_SLOTS * MUTABLE_LEASE_SIZE:
        raise ContainerFormatError("mutable container truncated in its lease slots")
    data_end = DATA_OFFSET + header.data_length
    extra_at = header.extra_lease_offset
    count = parse_extra_count(blob[extra_at : extra_at + EXTRA_COUNT.size])
    records_at = extra_at + EXTRA_COUNT.size
    records = blob[records_at : records_at + count * MUTABLE_LEASE_SIZE]
    if len(records) != count * MUTABLE_LEASE_SIZE:
        raise ContainerFormatError("mutable container truncated in its extra leases")
    leases = decode_lease_records(header.version, slots) + decode_lease_records(
        header.version, records
    )
    return MutableContainer(header=header, data=blob[DATA_OFFSET:data_end], leases=tuple(leases))
