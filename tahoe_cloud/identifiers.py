"""Storage indexes and share numbers: validated once, before any path or key is built.

A storage index is 16 bytes; on the wire and on disk it is written as 26
lowercase, unpadded RFC 3548 base32 characters. A share number is an integer in
0..255 (Tahoe-LAFS encodes at most 256 shares).
"""

from __future__ import annotations

import base64
import re
from functools import cached_property

from attrs import frozen

from tahoe_cloud.errors import InvalidRequest

STORAGE_INDEX_BYTES = 16
MAX_SHARE_NUMBER = 255

_SI_TEXT = re.compile(r"[a-z2-7]{26}\Z")
_SHNUM_TEXT = re.compile(r"(0|[1-9][0-9]{0,2})\Z")


def b32encode(data: bytes) -> str:
    """Lowercase unpadded base32, as Tahoe-LAFS writes identifiers."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode(text: str) -> bytes:
    """Inverse of :func:`b32encode`; raises ``ValueError`` on bad input."""
    if not re.fullmatch(r"[a-z2-7]*", text):
        raise ValueError("not lowercase base32")
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


@frozen(order=True)
class StorageIndex:
    """The 16-byte name of the shares of one file (or one mutable slot)."""

    raw: bytes

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != STORAGE_INDEX_BYTES:
            raise InvalidRequest("a storage index is 16 bytes")

    @classmethod
    def from_text(cls, text: str) -> StorageIndex:
        """Parse the 26-character form; anything else is ``InvalidRequest``."""
        if not _SI_TEXT.match(text):
            raise InvalidRequest("storage index must be 26 lowercase base32 characters")
        raw = b32decode(text)
        if b32encode(raw) != text:
            # Trailing bits set: a second spelling of the same index. Refuse it,
            # so one index has exactly one path and one key.
            raise InvalidRequest("storage index is not canonical base32")
        return cls(raw)

    @cached_property
    def text(self) -> str:
        # Cached: every path, key, log line and URL of a request asks for it.
        return b32encode(self.raw)

    @property
    def prefix(self) -> str:
        """The first two characters: upstream's 1,024-way directory fan-out."""
        return self.text[:2]

    def __str__(self) -> str:
        return self.text


def validate_share_number(value: object) -> int:
    """Return ``value`` if it is a valid share number, else raise ``InvalidRequest``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest("share number must be an integer")
    if not 0 <= value <= MAX_SHARE_NUMBER:
        raise InvalidRequest(f"share number must be in 0..{MAX_SHARE_NUMBER}")
    return value


def parse_share_number(text: str) -> int:
    """Parse a decimal share number from a URL or a file name, strictly."""
    if not _SHNUM_TEXT.match(text):
        raise InvalidRequest("share number must be a decimal integer without leading zeros")
    return validate_share_number(int(text))
