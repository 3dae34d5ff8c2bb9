"""The small CBOR documents kept in the bucket: a mutable share's head and a lease file.

Both are decoded defensively: a damaged or foreign object is a
``BackendError`` naming the key, never a crash or a silent misread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cbor2
from attrs import frozen

from tahoe_cloud.errors import BackendError
from tahoe_cloud.vocabulary import NODEID_BYTES, SECRET_BYTES, Lease, WriteEnabler

FORMAT_VERSION = 1


@frozen(repr=False)
class MutableHead:
    """A mutable share: who may write it, how long it is, where its bytes are.

    Exactly one of ``inline`` (the whole data, for small shares) and
    ``chunks`` (one generation id per chunk of ``chunk_size`` bytes, or None
    for a chunk of zeros never written) describes the data.
    """

    write_enabler: WriteEnabler
    length: int
    chunk_size: int
    inline: bytes | None
    chunks: tuple[str | None, ...]

    def __repr__(self) -> str:
        where = "inline" if self.inline is not None else f"{len(self.chunks)} chunks"
        return f"MutableHead(length={self.length}, {where})"


def _decode(body: bytes, key: str) -> Any:
    try:
        return cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError) as e:
        raise BackendError(
            f"S3 object {key!r} is damaged (not CBOR: {e.__class__.__name__})"
        ) from None


def encode_head(head: MutableHead) -> bytes:
    return cbor2.dumps(
        {
            "v": FORMAT_VERSION,
            "we_node": head.write_enabler.nodeid,
            "we": head.write_enabler.secret,
            "len": head.length,
            "cs": head.chunk_size,
            "inline": head.inline,
            "chunks": list(head.chunks),
        }
    )


def decode_head(body: bytes, key: str) -> MutableHead:
    doc = _decode(body, key)
    try:
        if doc["v"] != FORMAT_VERSION:
            raise BackendError(f"S3 object {key!r} has unknown format version {doc['v']!r}")
        inline = doc["inline"]
        chunks = tuple(doc["chunks"])
        head = MutableHead(
            WriteEnabler(bytes(doc["we_node"]), bytes(doc["we"])),
            int(doc["len"]),
            int(doc["cs"]),
            None if inline is None else bytes(inline),
            chunks,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BackendError(f"S3 object {key!r} is damaged ({e.__class__.__name__})") from None
    ok = (
        head.length >= 0
        and head.chunk_size > 0
        and all(c is None or isinstance(c, str) for c in chunks)
    )
    if head.inline is not None:
        ok = ok and len(head.inline) == head.length and not chunks
    else:
        ok = ok and len(chunks) == -(-head.length // head.chunk_size)
    if not ok:
        raise BackendError(f"S3 object {key!r} is damaged (inconsistent mutable head)")
    return head


def encode_leases(leases: Mapping[int, Sequence[Lease]]) -> bytes:
    return cbor2.dumps(
        {
            "v": FORMAT_VERSION,
            "shares": {
                shnum: [
                    [x.owner_num, x.renew_secret, x.cancel_secret, x.expiration, x.nodeid, x.hashed]
                    for x in share_leases
                ]
                for shnum, share_leases in leases.items()
            },
        }
    )


def decode_leases(body: bytes, key: str) -> dict[int, list[Lease]]:
    doc = _decode(body, key)
    try:
        if doc["v"] != FORMAT_VERSION:
            raise BackendError(f"S3 object {key!r} has unknown format version {doc['v']!r}")
        out: dict[int, list[Lease]] = {}
        for shnum, records in doc["shares"].items():
            leases = []
            for owner, renew, cancel, expiration, nodeid, hashed in records:
                if len(renew) != SECRET_BYTES or len(cancel) != SECRET_BYTES:
                    raise ValueError("secret length")
                if len(nodeid) != NODEID_BYTES:
                    raise ValueError("node id length")
                leases.append(
                    Lease(
                        int(owner),
                        bytes(renew),
                        bytes(cancel),
                        int(expiration),
                        bytes(nodeid),
                        bool(hashed),
                    )
                )
            out[int(shnum)] = leases
        return out
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BackendError(f"S3 object {key!r} is damaged ({e.__class__.__name__})") from None
