"""Request bodies: bounded buffering, size limits per endpoint, reading in pieces.

twisted.web receives the whole body before a resource is rendered; it keeps
it in ``request.content`` (a ``BytesIO`` for small bodies, an anonymous
temporary file otherwise). Left alone, that buffers any size a client sends.
So:

- ``BoundedRequest`` (used by ``storage_site``) stops storing a body once it
  exceeds ``max_body`` -- at once when ``Content-Length`` announces it,
  otherwise when the received bytes pass it -- and only remembers that it was
  too large; the rest of the body is read off the connection and dropped.
  Disk and memory use per request are therefore bounded by ``max_body``.
- Bodies of at most ``MEMORY_BODY`` bytes are kept in memory while the
  server-wide ``body_budget`` has room; the others go to a temporary file,
  so however many clients upload at once, memory held for their bodies stays
  within that budget (plus the pieces being written, see ``iter_body``).
- Each endpoint then applies its own, smaller limit (``Limits``) with
  ``body_size``: 413 when ``Content-Length``, the stored size or the
  "too large" flag says the body is over it, before any byte is decoded.
- Immutable writes are read from ``request.content`` in pieces of at most
  ``PIECE`` bytes and handed to the core one piece at a time; CBOR bodies,
  which must be decoded whole, are read only once known to be within limits.
"""

from __future__ import annotations

import inspect
import re
import tempfile
from collections.abc import Iterator
from io import BytesIO
from os import SEEK_END, SEEK_SET
from typing import IO, Any

from attrs import frozen
from twisted.web import http, server
from twisted.web.resource import IResource

from tahoe_cloud.http.async_bridge import WebRequest
from tahoe_cloud.http.budget import BODY_BUDGET, ByteBudget
from tahoe_cloud.http.channel import StorageChannel
from tahoe_cloud.http.errors import HTTPError

KiB = 1024
MiB = 1024 * KiB

#: Bytes handed to ``StorageServer.write_immutable`` per call.
PIECE = 1 * MiB

#: Bodies declared up to this size are kept in memory. twisted.web spools any
#: body over 100 kB to an anonymous temporary file, so every byte of the stock
#: client's ~1 MiB immutable writes was written to disk, read back, then
#: written to the share: a third of the server's system CPU in uploads.
#: Memory per request stays bounded by this; larger bodies still spool.
MEMORY_BODY = 2 * MiB


#: Room for the CBOR framing, test vectors and read vectors around the share
#: data of a read-test-write.
READ_TEST_WRITE_OVERHEAD = 1 * MiB


@frozen
class Limits:
    """Largest request body accepted per kind of endpoint (413 beyond).

    The first three are the reference server's numbers. Upstream puts no
    practical limit on immutable writes or read-test-write; the stock client
    sends immutable data in batches of about 1 MB, and a read-test-write
    carries a whole SDMF share, so those two get generous but finite limits.
    """

    default: int = 1 * MiB
    allocate: int = 8192
    corrupt: int = 32768
    read_test_write: int = 64 * MiB
    immutable_write: int = 16 * MiB

    @classmethod
    def for_server(cls, maximum_mutable_share_size: int) -> Limits:
        """Limits whose read-test-write body can carry a whole share of the largest size.

        The stock client sends a whole (MDMF) share in one read-test-write, so
        the server must never advertise a mutable share size it cannot receive.
        """
        return cls(read_test_write=maximum_mutable_share_size + READ_TEST_WRITE_OVERHEAD)

    @property
    def largest(self) -> int:
        return max(
            self.default, self.allocate, self.corrupt, self.read_test_write, self.immutable_write
        )


class BoundedRequest(server.Request):
    """A request that keeps at most ``max_body`` bytes of its body.

    A body is kept in memory only if it is small and fits in the site's
    ``body_budget`` (shared by all requests, given back when the request
    ends); any other body goes to an anonymous temporary file.
    """

    max_body: int = Limits().largest
    body_budget: ByteBudget = ByteBudget(BODY_BUDGET)
    body_too_large: bool = False
    _stored: int = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.max_body:
            self.body_too_large = True
            self.content = BytesIO()
            return
        if length is not None and length <= MEMORY_BODY and self.body_budget.try_take(length):
            budget = self.body_budget
            self.notifyFinish().addBoth(lambda _: budget.give_back(length))
            self.content = BytesIO()
            return
        # Not in memory: a temporary file (twisted's choice only above 100 kB).
        self.content = tempfile.TemporaryFile()

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        self._stored += len(data)
        if self._stored > self.max_body:
            # Drop what was stored; only the verdict is kept.
            self.body_too_large = True
            if self.content is not None:
                self.content.close()
            self.content = BytesIO()
            return
        super().handleContentChunk(data)  # type: ignore[no-untyped-call]

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # twisted.web parses a POST's Content-Type with the email package, which
        # raises (and drops the connection) on line-breaking control characters.
        # Such a header cannot name CBOR anyway: replace it, so the endpoint
        # answers 415 instead.
        values = self.requestHeaders.getRawHeaders(b"content-type")
        if values and any(_CONTROL.search(value) for value in values):
            self.requestHeaders.setRawHeaders(b"content-type", [_INVALID_TYPE])
        super().requestReceived(command, path, version)  # type: ignore[no-untyped-call]


_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f\x85]")
_INVALID_TYPE = b"application/x-invalid-content-type"


class _QuietSite(server.Site):
    """A Site without twisted's own access log: the resource logs, without secrets."""

    def log(self, request: Any) -> None:
        pass


def storage_site(
    resource: IResource, *, limits: Limits | None = None, body_budget: int = BODY_BUDGET
) -> server.Site:
    """A ``Site`` serving ``resource`` with bounded request bodies and no tracebacks."""
    max_body = (limits or Limits()).largest
    request_factory = type(
        "StorageRequest",
        (BoundedRequest,),
        {"max_body": max_body, "body_budget": ByteBudget(body_budget)},
    )
    options: dict[str, Any] = {}
    if "parsePOSTFormSubmission" in inspect.signature(server.Site.__init__).parameters:
        # No HTML form parsing of POST bodies: the protocol has no forms.
        options["parsePOSTFormSubmission"] = False
    site = _QuietSite(resource, requestFactory=request_factory, **options)  # type: ignore[no-untyped-call]
    site.displayTracebacks = False
    site.protocol = StorageChannel  # type: ignore[assignment]
    return site


def _too_large() -> HTTPError:
    return HTTPError(http.REQUEST_ENTITY_TOO_LARGE, "request body too large")


def body_size(request: WebRequest, limit: int) -> int:
    """The size of the request body; 413 if it is over ``limit``."""
    if getattr(request, "body_too_large", False):
        raise _too_large()
    declared = request.requestHeaders.getRawHeaders(b"content-length")
    if declared:
        value = declared[0].strip()
        if value.isdigit() and len(value) < 20 and int(value) > limit:
            raise _too_large()
    content: IO[bytes] | None = request.content
    if content is None:
        return 0
    content.seek(0, SEEK_END)
    size = content.tell()
    content.seek(0, SEEK_SET)
    if size > limit:
        raise _too_large()
    return size


def read_body(request: WebRequest, limit: int) -> bytes:
    """The whole body, once known to be at most ``limit`` bytes."""
    size = body_size(request, limit)
    if size == 0 or request.content is None:
        return b""
    data: bytes = request.content.read(size)
    return data


def iter_body(request: WebRequest, size: int, piece: int = PIECE) -> Iterator[bytes]:
    """The first ``size`` bytes of the body, in pieces of at most ``piece`` bytes."""
    content = request.content
    remaining = size
    while remaining > 0 and content is not None:
        data = content.read(min(piece, remaining))
        if not data:
            return
        remaining -= len(data)
        yield data
