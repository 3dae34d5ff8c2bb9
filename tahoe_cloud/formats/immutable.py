"""Upstream's immutable share container (versions 1 and 2).

Layout of one immutable share file::

    offset            size      field
    0                 4         container version: 1 (clear leases) or 2 (hashed leases)
    4                 4         legacy data length: min(2**32 - 1, allocated size);
                                unused by readers since Tahoe 1.3, still written
    8                 4         lease count N
    12                D         share data
    12 + D            72 * N    lease records (see ``lease_records``)

There is no stored data length: D = file size - 12 - 72 * N, so reads must
stop where the lease area begins. Upstream 1.20 writes version 2.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from attrs import frozen

from tahoe_cloud.formats import ContainerFormatError
from tahoe_cloud.formats.lease_records import (
    IMMUTABLE_LEASE_SIZE,
    pack_immutable_lease,
    unpack_immutable_lease,
)
from tahoe_cloud.vocabulary import Lease

HEADER = struct.Struct(">LLL")
HEADER_SIZE = HEADER.size
DATA_OFFSET = HEADER_SIZE
LEASE_COUNT_OFFSET = 8
VERSION_CLEAR = 1
VERSION_HASHED = 2
VERSIONS = frozenset({VERSION_CLEAR, VERSION_HASHED})
NEWEST_VERSION = VERSION_HASHED
_LEGACY_LENGTH_MAX = 2**32 - 1


@frozen
class ImmutableHeader:
    """The 12-byte header of an immutable container."""

    version: int
    legacy_length: int
    lease_count: int

    @property
    def hashed(self) -> bool:
        return self.version == VERSION_HASHED


def is_immutable_header(prefix: bytes) -> bool:
    """True if the first (at least 4) bytes of a file start an immutable container."""
    if len(prefix) < 4:
        return False
    (version,) = struct.unpack(">L", prefix[:4])
    return version in VERSIONS


def pack_header(version: int, allocated_size: int, lease_count: int) -> bytes:
    """The header for a container of ``allocated_size`` data bytes and ``lease_count`` leases."""
    if version not in VERSIONS:
        raise ContainerFormatError(f"unknown immutable container version {version}")
    if allocated_size < 0 or not 0 <= lease_count <= _LEGACY_LENGTH_MAX:
        raise ContainerFormatError("immutable header values out of range")
    # The legacy field saturates rather than wraps, as upstream writes it.
    return HEADER.pack(version, min(_LEGACY_LENGTH_MAX, allocated_size), lease_count)


def pack_lease_count(lease_count: int) -> bytes:
    """The 4 bytes at ``LEASE_COUNT_OFFSET``."""
    return struct.pack(">L", lease_count)


def parse_header(data: bytes) -> ImmutableHeader:
    """Decode the first 12 bytes; refuses unknown versions."""
    if len(data) < HEADER_SIZE:
        raise ContainerFormatError("immutable container shorter than its header")
    version, legacy, count = HEADER.unpack(data[:HEADER_SIZE])
    if version not in VERSIONS:
        raise ContainerFormatError(f"unknown immutable container version {version}")
    return ImmutableHeader(version=version, legacy_length=legacy, lease_count=count)


def data_length(file_size: int, lease_count: int) -> int:
    """The share data length implied by a file's size and lease count."""
    length = file_size - HEADER_SIZE - IMMUTABLE_LEASE_SIZE * lease_count
    if length < 0:
        raise ContainerFormatError("immutable container too short for its lease count")
    return length


def lease_area_offset(data_len: int) -> int:
    """Where the lease records start in a container holding ``data_len`` data bytes."""
    return DATA_OFFSET + data_len


def encode_leases(version: int, leases: Sequence[Lease]) -> bytes:
    """The lease area for ``leases`` in a container of ``version``."""
    hashed = version == VERSION_HASHED
    return b"".join(pack_immutable_lease(lease, hashed=hashed) for lease in leases)


def decode_leases(version: int, area: bytes) -> list[Lease]:
    """Decode a whole lease area (a multiple of 72 bytes)."""
    if len(area) % IMMUTABLE_LEASE_SIZE:
        raise ContainerFormatError("immutable lease area is not a whole number of records")
    hashed = version == VERSION_HASHED
    return [
        unpack_immutable_lease(area[i : i + IMMUTABLE_LEASE_SIZE], hashed=hashed)
        for i in range(0, len(area), IMMUTABLE_LEASE_SIZE)
    ]


@frozen
class ImmutableContainer:
    """A whole immutable container in memory (tests and small shares only)."""

    version: int
    data: bytes
    leases: tuple[Lease, ...]


def build_container(version: int, data: bytes, leases: Sequence[Lease]) -> bytes:
    """Serialize a whole container."""
    return pack_header(version, len(data), len(leases)) + data + encode_leases(version, leases)


def parse_container(blob: bytes) -> ImmutableContainer:
    """Parse a whole container held in memory."""
    header = parse_header(blob)
    length = data_length(len(blob), header.lease_count)
    start = lease_area_offset(length)
    return ImmutableContainer(
        version=header.version,
        data=blob[DATA_OFFSET:start],
        leases=tuple(decode_leases(header.version, blob[start:])),
    )
