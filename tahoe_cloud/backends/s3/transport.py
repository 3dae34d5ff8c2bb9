"""Sending HTTP requests to S3: treq over one persistent connection pool.

One ``HTTPConnectionPool`` is shared by every request so TLS handshakes are
paid once per connection, not once per request. A ``DeferredSemaphore``
bounds the requests in flight (memory and sockets stay bounded however many
clients are busy), and every request has a timeout covering the whole
exchange, body included. Failures to connect or to finish in time become
``S3ConnectionError`` (transient: the retry layer retries them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

import treq
from attrs import frozen
from twisted.internet import defer
from twisted.internet.error import ConnectError, ConnectionClosed, DNSLookupError, TimeoutError
from twisted.python.failure import Failure
from twisted.web.client import (
    FileBodyProducer,
    HTTPConnectionPool,
    RequestGenerationFailed,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
    _HTTP11ClientFactory,
)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse

from tahoe_cloud.backends.s3.errors import S3ConnectionError

DEFAULT_MAX_IN_FLIGHT = 16
DEFAULT_TIMEOUT = 60.0
# A body streamed from a file is read and sent this many bytes at a time; with
# the transport's own buffer (paused at 64 KiB) that is all a request holds.
STREAM_CHUNK = 256 * 1024


@frozen
class FileSlice:
    """``length`` bytes of an open file from ``offset``: a request body sent without loading it.

    Each attempt reads the bytes afresh (a retry re-sends exactly the same
    bytes), in ``STREAM_CHUNK`` pieces, as fast as the connection takes them.
    """

    file: IO[bytes]
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length

    def reader(self) -> _SliceReader:
        return _SliceReader(self)


class _SliceReader:
    """The file-like view ``FileBodyProducer`` reads: ``pread`` within the slice, no shared seek."""

    def __init__(self, part: FileSlice) -> None:
        self._part = part
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        left = self._part.length - self._pos
        size = left if size < 0 else min(size, left)
        if size <= 0:
            return b""
        data = os.pread(self._part.file.fileno(), size, self._part.offset + self._pos)
        if not data:
            raise OSError("the file is shorter than the request body")
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._part.length}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """The file belongs to the caller (it may be sent again): nothing to close."""


Body = bytes | FileSlice


class _QuietClientFactory(_HTTP11ClientFactory):
    """Twisted's client factory without its "Starting/Stopping factory" log lines.

    The pool makes one factory per new connection to S3, so a busy node would
    log two lines for every connection it opens.
    """

    noisy = False


class _QuietConnectionPool(HTTPConnectionPool):
    _factory = _QuietClientFactory


@frozen(repr=False)
class HTTPResponse:
    """A complete answer: status, the headers S3 code needs, the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"HTTPResponse(status={self.status}, {len(self.body)} bytes)"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _flatten(headers: Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, values in headers.getAllRawHeaders():
        out[name.decode("latin-1").lower()] = values[-1].decode("latin-1")
    return out


class Transport:
    """Sends requests with a bound on concurrency and a timeout on each."""

    def __init__(
        self,
        reactor: Any,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._reactor = reactor
        self._pool = _QuietConnectionPool(reactor, persistent=True)  # type: ignore[no-untyped-call]
        self._pool.maxPersistentPerHost = max_in_flight
        self._pool.retryAutomatically = False  # the retry layer decides, and re-signs
        self._semaphore = defer.DeferredSemaphore(max_in_flight)
        self.timeout = timeout
        self.max_in_flight = max_in_flight

    async def request(
        self, operation: str, method: str, url: str, headers: Mapping[str, str], body: Body
    ) -> HTTPResponse:
        """Send one request and read the whole answer; raise ``S3ConnectionError`` on failure."""
        await self._semaphore.acquire()
        try:
            return await self._request(operation, method, url, headers, body)
        finally:
            self._semaphore.release()

    async def _request(
        self, operation: str, method: str, url: str, headers: Mapping[str, str], body: Body
    ) -> HTTPResponse:
        twisted_headers = Headers(
            {k.encode("latin-1"): [v.encode("latin-1")] for k, v in headers.items()}
        )
        data: bytes | FileBodyProducer | None
        if isinstance(body, FileSlice):
            # Streamed: read from the file while sending, never held whole.
            data = FileBodyProducer(body.reader(), readSize=STREAM_CHUNK)  # type: ignore[no-untyped-call]
        else:
            data = body if body or method in ("PUT", "POST") else None
        d = treq.request(
            method,
            url.encode("ascii"),  # bytes: treq must not re-normalise what was signed
            headers=twisted_headers,
            data=data,
            pool=self._pool,
            reactor=self._reactor,
            persistent=True,
        )
        d.addCallback(self._read, method)
        # On timeout the Agent's canceller fails the request with
        # ResponseNeverReceived, not CancelledError: report it as the timeout it is.
        d.addTimeout(self.timeout, self._reactor, onTimeoutCancel=_timed_out)
        try:
            response: HTTPResponse = await d
            return response
        except defer.TimeoutError:
            raise S3ConnectionError(operation, f"no answer within {self.timeout:g} s") from None
        except (ConnectError, DNSLookupError, TimeoutError) as e:
            raise S3ConnectionError(operation, f"cannot connect ({e.__class__.__name__})") from None
        except RequestGenerationFailed:
            # The body could not be read from its file (retried: re-read from the start).
            raise S3ConnectionError(operation, "cannot read the request body") from None
        except (
            ResponseFailed,
            ResponseNeverReceived,
            RequestTransmissionFailed,
            ConnectionClosed,
        ) as e:
            reason = f"connection lost ({e.__class__.__name__})"
            raise S3ConnectionError(operation, reason) from None

    @staticmethod
    async def _read_async(response: IResponse, method: str) -> HTTPResponse:
        body = b"" if method == "HEAD" else await treq.content(response)
        return HTTPResponse(response.code, _flatten(response.headers), body)

    def _read(self, response: IResponse, method: str) -> defer.Deferred[HTTPResponse]:
        return defer.Deferred.fromCoroutine(self._read_async(response, method))

    async def close(self) -> None:
        """Close the pooled connections (at shutdown)."""
        await self._pool.closeCachedConnections()  # type: ignore[no-untyped-call]


def _timed_out(result: object, timeout: float) -> Failure:
    return Failure(defer.TimeoutError(f"no answer within {timeout:g} s"))  # type: ignore[no-untyped-call]
