"""``Range`` and ``Content-Range`` headers, in the one form the storage protocol uses.

Reads carry ``Range: bytes=A-B`` (one range, both ends given, ``B``
inclusive); anything else -- several ranges, an open or suffix range, other
units, garbage -- is 416, as the reference server answers. Immutable writes
carry ``Content-Range: bytes A-B/*`` (a complete length instead of ``*`` is
tolerated when consistent); a missing or malformed one is 416 too.

Internally ranges are half-open ``[begin, end)`` pairs; conversion to HTTP's
inclusive ends happens only here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from twisted.web import http

from tahoe_cloud.http.errors import HTTPError
from tahoe_cloud.vocabulary import MAX_UINT64

_NUMBER = rb"(0|[1-9][0-9]{0,19})"
_RANGE = re.compile(rb"bytes[ \t]*=[ \t]*" + _NUMBER + rb"[ \t]*-[ \t]*" + _NUMBER + rb"\Z", re.I)
_CONTENT_RANGE = re.compile(
    rb"bytes[ \t]+" + _NUMBER + rb"-" + _NUMBER + rb"/(\*|" + _NUMBER + rb")\Z", re.I
)


def _unsatisfiable(reason: str) -> HTTPError:
    return HTTPError(http.REQUESTED_RANGE_NOT_SATISFIABLE, reason)


def _span(first: bytes, last: bytes) -> tuple[int, int]:
    begin, last_byte = int(first), int(last)
    if last_byte < begin or last_byte >= MAX_UINT64:
        raise _unsatisfiable("range end before its start, or too large")
    return begin, last_byte + 1


def one_header(values: Sequence[bytes] | None, name: str) -> bytes | None:
    """The only value of a range header: two of them are ambiguous, so 416 (never "last wins")."""
    if values is not None and len(values) != 1:
        raise _unsatisfiable(f"one {name} header only")
    return values[0] if values else None


def parse_range(header: bytes | None) -> tuple[int, int] | None:
    """``[begin, end)`` from a ``Range`` header; ``None`` when there is no header."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        raise _unsatisfiable("Range must be a single 'bytes=first-last' range")
    return _span(match.group(1), match.group(2))


def parse_content_range(header: bytes | None) -> tuple[int, int]:
    """``[begin, end)`` from the ``Content-Range`` header of an immutable write."""
    if header is None:
        raise _unsatisfiable("Content-Range header required")
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise _unsatisfiable("Content-Range must be 'bytes first-last/*'")
    begin, end = _span(match.group(1), match.group(2))
    if match.group(4) is not None and int(match.group(4)) < end:
        raise _unsatisfiable("Content-Range length is shorter than the range")
    return begin, end


def format_content_range(begin: int, end: int) -> bytes:
    """``Content-Range`` for the bytes ``[begin, end)`` of a share of unknown length."""
    if not 0 <= begin < end:
        raise ValueError("an HTTP byte range cannot be empty")
    return b"bytes %d-%d/*" % (begin, end - 1)
