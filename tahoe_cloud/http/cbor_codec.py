"""Strict, bounded CBOR decoding of request bodies, and encoding of answers.

Decoding (``tahoe_cloud.http.cbor_decoder``) refuses what no stock client
sends and what would make later checks fragile: trailing bytes after the
item, indefinite-length items, duplicate map keys, nesting deeper than a
request can need, and any tag but 258 (a set). It builds at most
``MAX_ITEMS`` items whatever the body says, so a body's memory and CPU are
bounded by its size limit and this budget together, and ``decode_body``
decodes a large body in slices so the reactor keeps serving other requests.
Every failure becomes a 400 ``HTTPError``.

Encoding relies on cbor2's mapping of Python sets to tag 258 (the stock
client's schemas require that tag around every set) and writes byte-string
keys as byte strings (the version map needs them).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import cbor2
from twisted.internet.task import coiterate
from twisted.web import http

from tahoe_cloud.http.cbor_decoder import SLICE, BudgetedDecoder, CBORRefused
from tahoe_cloud.http.errors import HTTPError

CBOR_MIME_TYPE = "application/cbor"

#: No request schema nests deeper than 5; leave room without allowing abuse.
MAX_DEPTH = 12

#: Items one request body may hold. The largest valid read-test-write (every
#: vector count at its limit, see ``tahoe_cloud.vocabulary`` and
#: ``tahoe_cloud.server.limits``) needs about
#: 220,000; each item costs at most about 100 bytes of Python objects.
MAX_ITEMS = 2**18


def _decoder(data: bytes) -> BudgetedDecoder:
    if not data:
        raise HTTPError(http.BAD_REQUEST, "empty body where CBOR was expected")
    return BudgetedDecoder(data, max_items=MAX_ITEMS, max_depth=MAX_DEPTH)


def _result(decoder: BudgetedDecoder, data: bytes) -> object:
    if decoder.end != len(data):
        raise HTTPError(http.BAD_REQUEST, "trailing bytes after the CBOR body")
    return decoder.value


def decode(data: bytes) -> object:
    """Decode exactly one CBOR item from ``data``; raise a 400 ``HTTPError`` otherwise."""
    decoder = _decoder(data)
    try:
        for _ in decoder.steps():
            pass
    except CBORRefused as e:
        raise HTTPError(http.BAD_REQUEST, str(e)) from None
    return _result(decoder, data)


async def decode_body(data: bytes) -> object:
    """As ``decode``, but a body of more than ``SLICE`` bytes is decoded between other events."""
    if len(data) <= SLICE:
        return decode(data)
    decoder = _decoder(data)
    try:
        with _collector_paused():
            await coiterate(decoder.steps())
    except CBORRefused as e:
        raise HTTPError(http.BAD_REQUEST, str(e)) from None
    return _result(decoder, data)


_paused_by = 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while bodies are being decoded.

    Decoded items form no cycles (reference counting frees them), but building
    many of them triggers full collections, each walking the whole heap with
    the reactor waiting (about 100 ms each for a body at the item budget).
    """
    global _paused_by
    if _paused_by == 0 and not gc.isenabled():
        yield  # paused by someone else: leave it to them
        return
    _paused_by += 1
    gc.disable()
    try:
        yield
    finally:
        _paused_by -= 1
        if _paused_by == 0:
            gc.enable()


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
