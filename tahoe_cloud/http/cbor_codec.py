"""Strict CBOR decoding of request bodies and encoding of answers.

Decoding refuses what no stock client sends and what would make later checks
fragile: trailing bytes after the item, indefinite-length items, duplicate
map keys, nesting deeper than a request can need, and any tag but 258 (a set).
Tags cbor2 interprets by itself (dates, bignums, ...) decode to Python values
the schemas in ``tahoe_cloud.http.schemas`` then refuse by type. Every failure
becomes a 400 ``HTTPError``; nothing cbor2 raises on bad input escapes.

Encoding relies on cbor2's mapping of Python sets to tag 258 (the stock
client's schemas require that tag around every set) and writes byte-string
keys as byte strings (the version map needs them).
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

import cbor2
from twisted.web import http

from tahoe_cloud.http.errors import HTTPError

CBOR_MIME_TYPE = "application/cbor"

#: No request schema nests deeper than 5; leave room without allowing abuse.
_MAX_DEPTH = 12

#: What decoding bad bytes can raise inside cbor2; all of it means "malformed body".
_DECODE_FAILURES = (
    cbor2.CBORError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
    UnicodeError,
    EOFError,
    MemoryError,
)


def _refuse_tag(tag: cbor2.CBORTag, immutable: bool) -> object:
    raise cbor2.CBORDecodeError(f"CBOR tag {tag.tag} is not allowed")


def decode(data: bytes) -> object:
    """Decode exactly one CBOR item from ``data``; raise a 400 ``HTTPError`` otherwise."""
    if not data:
        raise HTTPError(http.BAD_REQUEST, "empty body where CBOR was expected")
    stream = BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream,
            tag_hook=_refuse_tag,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            max_depth=_MAX_DEPTH,
        )
        value = decoder.decode()
    except _DECODE_FAILURES:
        raise HTTPError(http.BAD_REQUEST, "malformed CBOR body") from None
    if stream.tell() != len(data):
        raise HTTPError(http.BAD_REQUEST, "trailing bytes after the CBOR body")
    return value


def encode(value: object) -> bytes:
    """Encode an answer; Python sets become tag-258 arrays."""
    return cbor2.dumps(value)


def media_type(header_values: Sequence[bytes] | None) -> str | None:
    """The media type of a ``Content-Type`` header (lowercase, no parameters), or ``None``."""
    if not header_values:
        return None
    raw = header_values[0].split(b";", 1)[0].strip().lower()
    if not raw:
        return None
    return raw.decode("latin-1")


def require_cbor_content_type(header_values: Sequence[bytes] | None) -> None:
    """415 unless the body is declared as CBOR; a missing ``Content-Type`` counts as CBOR."""
    kind = media_type(header_values)
    if kind is not None and kind != CBOR_MIME_TYPE:
        raise HTTPError(http.UNSUPPORTED_MEDIA_TYPE, "request body must be application/cbor")
