"""The digests an immutable upload's requests carry, computed as its bytes are spooled.

Each body (a single PUT or one part of a multipart upload) carries its
Content-MD5, and its SHA-256 when the signature needs the payload hash; the
whole share's MD5 is stored as metadata. Hashing the bytes as they arrive,
in order, spares reading the spool back before publishing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import IO

from attrs import frozen

from tahoe_cloud.errors import BackendError

# The spool is read back in pieces of this size when it must be hashed again.
REHASH_PIECE = 1024 * 1024


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


@frozen
class PartDigest:
    """What the request for one body (a single PUT or one part) must say about it."""

    offset: int
    length: int
    md5: str  # base64, for Content-MD5
    sha256: str | None  # hex, for the SigV4 payload hash; None when not signed


class Digests:
    """MD5 of the whole share and of each body (single PUT or part), fed as bytes arrive.

    The spool is then published without being read back to hash it: the
    bytes are hashed once, on their way in. Only bytes arriving in order
    can be hashed this way (the stock client writes in order); after an
    out-of-order write ``complete`` is False and ``rehash`` reads the spool.
    """

    def __init__(self, size: int, part_size: int, *, sha256: bool) -> None:
        self.size = size
        self.part_size = part_size
        self.pos = 0
        self.parts: list[PartDigest] = []
        self._sha = sha256
        # With more than one body the whole share needs an MD5 of its own.
        self._whole = hashlib.md5(usedforsecurity=False) if part_size < size else None
        self._part_md5 = hashlib.md5(usedforsecurity=False)
        self._part_sha = hashlib.sha256() if sha256 else None
        self._part_start = 0
        if size == 0:
            self._end_part()

    @property
    def complete(self) -> bool:
        return self.pos == self.size

    @property
    def whole_md5(self) -> str:
        if self._whole is None:
            return self.parts[0].md5  # one body: its MD5 is the whole share's
        return _b64(self._whole.digest())

    def _end_part(self) -> None:
        sha = None if self._part_sha is None else self._part_sha.hexdigest()
        length = self.pos - self._part_start
        self.parts.append(PartDigest(self._part_start, length, _b64(self._part_md5.digest()), sha))
        self._part_start = self.pos
        self._part_md5 = hashlib.md5(usedforsecurity=False)
        self._part_sha = hashlib.sha256() if self._sha else None

    def feed(self, offset: int, data: bytes) -> None:
        """Hash ``data`` written at ``offset`` if it continues what was hashed so far."""
        if offset != self.pos or not data:
            if offset + len(data) > self.pos and data:
                self.pos = -1  # a gap: hashing in order is no longer possible
            return
        view = memoryview(data)
        while view:
            take = min(len(view), self._part_start + self.part_size - self.pos)
            piece = view[:take]
            if self._whole is not None:
                self._whole.update(piece)
            self._part_md5.update(piece)
            if self._part_sha is not None:
                self._part_sha.update(piece)
            self.pos += take
            view = view[take:]
            if self.pos == self._part_start + self.part_size or self.pos == self.size:
                self._end_part()

    def rehash(self, f: IO[bytes]) -> Digests:
        """The same digests computed from the spool file (after out-of-order writes)."""
        fresh = Digests(self.size, self.part_size, sha256=self._sha)
        for offset in range(0, self.size, REHASH_PIECE):
            fresh.feed(offset, os.pread(f.fileno(), min(REHASH_PIECE, self.size - offset), offset))
        if not fresh.complete:
            raise BackendError("the upload spool file is shorter than the share")
        return fresh
