"""Lease records inside share containers: 72 bytes (immutable), 92 bytes (mutable).

Container version 1 stores the renew and cancel secrets in clear; version 2
stores ``blake2b(secret, digest_size=32)`` instead (see ``tahoe_cloud.vocabulary.Lease``).
The record layout is the same in both versions; only the meaning of the two
32-byte fields changes, so the caller says which one it has.

Immutable lease record (``>L32s32sL``)::

    offset  size  field
    0       4     owner number (big-endian)
    4       32    renew secret, or its blake2b digest (v2)
    36      32    cancel secret, or its blake2b digest (v2)
    68      4     expiration time, seconds since the epoch (big-endian)
    72            end

Mutable lease record (``>LL32s32s20s``)::

    offset  size  field
    0       4     owner number; 0 marks an EMPTY slot
    4       4     expiration time, seconds since the epoch
    8       32    renew secret, or its blake2b digest (v2)
    40      32    cancel secret, or its blake2b digest (v2)
    72      20    node id of the server that accepted the lease
    92            end
"""

from __future__ import annotations

import struct

from tahoe_cloud.formats import ContainerFormatError
from tahoe_cloud.vocabulary import NODEID_BYTES, Lease

IMMUTABLE_LEASE = struct.Struct(">L32s32sL")
MUTABLE_LEASE = struct.Struct(">LL32s32s20s")
IMMUTABLE_LEASE_SIZE = IMMUTABLE_LEASE.size
MUTABLE_LEASE_SIZE = MUTABLE_LEASE.size
assert IMMUTABLE_LEASE_SIZE == 72 and MUTABLE_LEASE_SIZE == 92

_UINT32_MAX = 2**32 - 1


def _stored(lease: Lease, hashed: bool) -> Lease:
    """The lease as a container of the given kind stores it."""
    if hashed:
        return lease.to_hashed()
    if lease.hashed:
        # A digest cannot be turned back into the secret a v1 container needs.
        raise ContainerFormatError("a version-1 container cannot hold a hashed lease")
    return lease


def _check(lease: Lease) -> None:
    if not 0 <= lease.owner_num <= _UINT32_MAX:
        raise ContainerFormatError("lease owner number does not fit in 32 bits")
    if not 0 <= lease.expiration <= _UINT32_MAX:
        raise ContainerFormatError("lease expiration does not fit in 32 bits")


def pack_immutable_lease(lease: Lease, *, hashed: bool) -> bytes:
    """Encode ``lease`` for an immutable container (``hashed`` = version 2)."""
    stored = _stored(lease, hashed)
    _check(stored)
    return IMMUTABLE_LEASE.pack(
        stored.owner_num, stored.renew_secret, stored.cancel_secret, stored.expiration
    )


def unpack_immutable_lease(record: bytes, *, hashed: bool) -> Lease:
    """Decode one 72-byte immutable lease record."""
    if len(record) != IMMUTABLE_LEASE_SIZE:
        raise ContainerFormatError("truncated immutable lease record")
    owner, renew, cancel, expiration = IMMUTABLE_LEASE.unpack(record)
    return Lease(
        owner_num=owner,
        renew_secret=renew,
        cancel_secret=cancel,
        expiration=expiration,
        hashed=hashed,
    )


def pack_mutable_lease(lease: Lease, *, hashed: bool) -> bytes:
    """Encode ``lease`` for a mutable container (``hashed`` = version 2).

    Owner number 0 is refused: upstream reads a record with owner 0 as an
    empty slot, so such a lease would silently vanish.
    """
    stored = _stored(lease, hashed)
    _check(stored)
    if stored.owner_num == 0:
        raise ContainerFormatError("a mutable lease needs a non-zero owner number")
    if len(stored.nodeid) != NODEID_BYTES:
        raise ContainerFormatError("a mutable lease's node id must be 20 bytes")
    return MUTABLE_LEASE.pack(
        stored.owner_num,
        stored.expiration,
        stored.renew_secret,
        stored.cancel_secret,
        stored.nodeid,
    )


def unpack_mutable_lease(record: bytes, *, hashed: bool) -> Lease | None:
    """Decode one 92-byte mutable lease record; ``None`` for an empty slot."""
    if len(record) != MUTABLE_LEASE_SIZE:
        raise ContainerFormatError("truncated mutable lease record")
    owner, expiration, renew, cancel, nodeid = MUTABLE_LEASE.unpack(record)
    if owner == 0:
        return None
    return Lease(
        owner_num=owner,
        renew_secret=renew,
        cancel_secret=cancel,
        expiration=expiration,
        nodeid=nodeid,
        hashed=hashed,
    )


EMPTY_MUTABLE_SLOT = b"\x00" * MUTABLE_LEASE_SIZE
