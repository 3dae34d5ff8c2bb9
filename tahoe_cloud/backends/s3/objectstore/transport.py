"""Sending HTTP requests to S3: treq's ``HTTPClient`` over any ``IAgent``.

By default the agent is Twisted's ``Agent`` on one persistent
``HTTPConnectionPool`` shared by every request, so TLS handshakes are paid
once per connection, not once per request; tests pass an agent that reaches
an in-memory S3 instead (as ``treq.testing`` does). A ``DeferredSemaphore``
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
from treq.client import HTTPClient
from twisted.internet import defer
from twisted.internet.error import ConnectError, ConnectionClosed, DNSLookupError, TimeoutError
from twisted.internet.interfaces import IConsumer
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    RequestGenerationFailed,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
    _HTTP11ClientFactory,
)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer, IResponse
from zope.interface import implementer

from tahoe_cloud.backends.s3.objectstore.errors import S3ConnectionError

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

    def read_at(self, pos: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``pos`` within the slice (blocking: call it in a thread)."""
        size = min(size, self.length - pos)
        if size <= 0:
            return b""
        data = os.pread(self.file.fileno(), size, self.offset + pos)
        if not data:
            raise OSError("the file is shorter than the request body")
        return data

    def producer(self) -> _SliceProducer:
        return _SliceProducer(self)


@implementer(IBodyProducer)
class _SliceProducer:
    """Streams a ``FileSlice`` to the connection, reading it in a worker thread.

    The reactor thread never touches the file: each ``STREAM_CHUNK`` piece
    is read with ``os.pread`` in the reactor's thread pool, and the next
    piece is read only once the previous one was handed to the connection
    and the connection is not paused, so a request holds at most one piece
    plus the transport's own buffer.
    """

    def __init__(self, part: FileSlice, piece: int = STREAM_CHUNK) -> None:
        self._part = part
        self._piece = piece
        self.length = part.length
        self._paused = False
        self._stopped = False
        self._waiting: defer.Deferred[None] | None = None

    def startProducing(self, consumer: IConsumer) -> defer.Deferred[None]:
        done: defer.Deferred[None] = defer.Deferred()

        def finished(result: object) -> None:
            # After stopProducing the result must not be reported (as Twisted's
            # own FileBodyProducer: the request has already failed).
            if not self._stopped:
                done.callback(None) if not isinstance(result, Failure) else done.errback(result)

        defer.Deferred.fromCoroutine(self._run(consumer)).addBoth(finished)
        return done

    async def _run(self, consumer: IConsumer) -> None:
        part = self._part
        sent = 0
        while sent < part.length and not self._stopped:
            await self._unpaused()
            if self._stopped:
                return
            data: bytes = await deferToThread(part.read_at, sent, self._piece)
            if self._stopped:
                return
            consumer.write(data)
            sent += len(data)
        # Done only once the connection took the last piece. A producer that
        # finishes while paused leaves the connection believing it paused a
        # producer: when its buffer drains it resumes the NEXT request's body
        # producer on the same pooled connection, which was never paused
        # (Twisted's FileBodyProducer then raises NotPaused, unhandled).
        await self._unpaused()

    async def _unpaused(self) -> None:
        while self._paused and not self._stopped:
            self._waiting = defer.Deferred()
            await self._waiting

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._wake()

    def stopProducing(self) -> None:
        self._stopped = True
        self._wake()


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
    """Sends requests with a bound on concurrency and a timeout on each.

    ``agent``: where requests go; None (the default) makes an ``Agent`` on
    a persistent pool of its own, closed by ``close``.
    """

    def __init__(
        self,
        reactor: Any,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        timeout: float = DEFAULT_TIMEOUT,
        agent: IAgent | None = None,
    ) -> None:
        self._reactor = reactor
        self._pool: HTTPConnectionPool | None = None
        if agent is None:
            self._pool = _QuietConnectionPool(reactor, persistent=True)  # type: ignore[no-untyped-call]
            self._pool.maxPersistentPerHost = max_in_flight
            self._pool.retryAutomatically = False  # the retry layer decides, and re-signs
            agent = Agent(reactor, pool=self._pool)  # type: ignore[no-untyped-call]
        self._http = HTTPClient(agent)
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
        data: bytes | _SliceProducer | None
        if isinstance(body, FileSlice):
            # Streamed: read from the file (in a thread) while sending, never held whole.
            data = body.producer()
        else:
            data = body if body or method in ("PUT", "POST") else None
        d = self._http.request(
            method,
            url.encode("ascii"),  # bytes: treq must not re-normalise what was signed
            headers=twisted_headers,
            data=data,
            reactor=self._reactor,
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
        """Close the pooled connections (at shutdown), if the pool is ours."""
        if self._pool is not None:
            await self._pool.closeCachedConnections()  # type: ignore[no-untyped-call]


def _timed_out(result: object, timeout: float) -> Failure:
    return Failure(defer.TimeoutError(f"no answer within {timeout:g} s"))  # type: ignore[no-untyped-call]
