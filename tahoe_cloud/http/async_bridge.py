"""The bridge from twisted.web to ``async def`` handlers: auth, errors, logging, disconnects.

``AsyncLeaf`` is a leaf resource: it receives every request under it and
renders it with ``NOT_DONE_YET`` while a coroutine (wrapped by
``Deferred.fromCoroutine``) produces the answer. The coroutine never lets an
exception out: the swissnum check comes first (401), then the subclass's
``route`` and handler (a request without the swissnum gets the same empty
401 on every path); every exception is mapped to a status through
``tahoe_cloud.http.errors`` (unexpected ones are logged with their traceback
and answered 500 without detail; backend faults, such as an S3 outage, are
logged with their own message and no traceback: a warning when transient).

A client that disconnects mid-request is noticed through ``notifyFinish``;
the handler is allowed to finish (cancelling it half-way through a core
operation would gain nothing) and its answer is dropped instead of written.

Each request is logged once through twisted.logger: method, path (which
holds at most a storage index and a share number), status and duration; at
``debug`` when it succeeded, at ``info`` with its reason when it failed. A
per-minute summary (``tahoe_cloud.http.traffic``) goes to ``info``. Header
values and bodies are never logged.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from typing import IO, Any, Protocol, cast

from attrs import Factory, define, field, frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IPushProducer, IReactorTime
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from zope.interface import implementer

from tahoe_cloud.http.auth import check_authorization_header
from tahoe_cloud.http.cbor_codec import CBOR_MIME_TYPE, encode
from tahoe_cloud.http.errors import HTTPError, answer_for
from tahoe_cloud.http.traffic import TrafficTally

_log = Logger(namespace="tahoe_cloud.http")

#: Reason phrases of statuses sent here that twisted.web does not know.
_PHRASES = {429: b"Too Many Requests"}

TEXT = b"text/plain; charset=utf-8"
CBOR = CBOR_MIME_TYPE.encode("ascii")
OCTETS = b"application/octet-stream"


class WebRequest(Protocol):
    """The typed subset of ``twisted.web.server.Request`` the front end uses."""

    method: bytes
    path: bytes
    postpath: list[bytes] | None
    code: int
    finished: int
    sentLength: int
    content: IO[bytes] | None
    requestHeaders: Headers

    def setHeader(self, name: bytes, value: bytes) -> None: ...
    def setResponseCode(self, code: int, message: bytes | None = None) -> None: ...
    def write(self, data: bytes) -> None: ...
    def finish(self) -> None: ...
    def registerProducer(self, producer: object, streaming: bool) -> None: ...
    def unregisterProducer(self) -> None: ...
    def loseConnection(self) -> None: ...
    def notifyFinish(self) -> Deferred[None]: ...
    def getClientAddress(self) -> IAddress: ...


#: A handler that writes its own body (large share reads) gets this.
Streamer = Callable[[WebRequest, "Throttle"], Awaitable[None]]


@frozen
class Answer:
    """A complete answer: status, body and the headers that go with it."""

    code: int
    body: bytes = b""
    content_type: bytes | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    #: When set, headers are sent and this coroutine writes the body itself.
    stream: Streamer | None = field(default=None, eq=False)
    #: Called instead of ``stream`` when the client left before it could run
    #: (it gives back what the stream holds).
    discard: Callable[[], None] | None = field(default=None, eq=False)


def cbor_answer(value: object, code: int = http.OK) -> Answer:
    return Answer(code, encode(value), CBOR)


def client_address(request: WebRequest) -> str:
    """The peer's host (what per-client limits count); the whole address if it has none."""
    address = request.getClientAddress()
    host = getattr(address, "host", None)
    return host if isinstance(host, str) else str(address)


def check_accepts_cbor(request: WebRequest) -> None:
    """406 unless the client's ``Accept`` (if any) admits ``application/cbor``."""
    values = request.requestHeaders.getRawHeaders(b"accept")
    if not values:
        return
    ranges = {
        item.split(b";", 1)[0].strip().lower() for value in values for item in value.split(b",")
    }
    if not ranges & {CBOR, b"application/*", b"*/*"}:
        raise HTTPError(http.NOT_ACCEPTABLE, "answers are application/cbor only")


@define
class _RequestState:
    """What the bridge tracks per request: start time, disconnection, error reason."""

    started: float
    gone: list[Failure] = Factory(list)
    reason: str | None = None


@implementer(IPushProducer)
class Throttle:
    """Back-pressure for streamed bodies: ``await throttle.ready()`` before each write."""

    def __init__(self) -> None:
        self._paused: Deferred[None] | None = None
        self.stopped = False

    def pauseProducing(self) -> None:
        if self._paused is None:
            self._paused = Deferred()

    def resumeProducing(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None:
            paused.callback(None)

    def stopProducing(self) -> None:
        self.stopped = True
        self.resumeProducing()

    async def ready(self) -> None:
        if self._paused is not None:
            await self._paused


class AsyncLeaf(Resource):
    """Base of the storage resources: subclasses implement ``route``."""

    isLeaf = True

    def __init__(self, swissnum: bytes, clock: IReactorTime) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._swissnum = swissnum
        self._clock = clock
        self.traffic = TrafficTally(window_start=clock.seconds())

    async def route(self, request: WebRequest) -> Answer:
        """Turn an already-authorized request into its answer (subclasses implement it)."""
        raise NotImplementedError

    def error_bodies_wanted(self, request: WebRequest) -> bool:
        """Whether error answers to ``request`` carry their reason as the body.

        The stock client reads the body of an error answer only on some
        endpoints; elsewhere it raises without reading it, and a non-empty
        body then keeps its pooled connection busy for good. Subclasses say
        which requests get a body; the reason is always logged.
        """
        return True

    def render(self, twisted_request: server.Request) -> Any:
        # No text/html default: every answer sets its own Content-Type.
        twisted_request.defaultContentType = None
        request = cast(WebRequest, twisted_request)
        state = _RequestState(started=self._clock.seconds())
        request.notifyFinish().addErrback(state.gone.append)
        running = Deferred.fromCoroutine(self._respond(request, state))
        running.addErrback(self._log_bridge_failure, request)
        running.addBoth(lambda _: self._log_request(request, state))
        return server.NOT_DONE_YET

    async def _respond(self, request: WebRequest, state: _RequestState) -> None:
        authorized = False
        try:
            check_authorization_header(
                request.requestHeaders.getRawHeaders(b"authorization"), self._swissnum
            )
            authorized = True
            answer = await self.route(request)
        except Exception as e:  # noqa: BLE001 -- every failure becomes an HTTP answer
            answer = self._error_answer(request, e, state, authorized)
            release_frames(e)
        if state.gone:
            if answer.discard is not None:
                answer.discard()
            return
        if answer.stream is not None:
            await self._send_stream(request, answer, state.gone)
        else:
            self._send_headers(request, answer)
            if answer.body and request.method != b"HEAD":
                request.write(answer.body)
            request.finish()

    def _error_answer(
        self, request: WebRequest, exc: Exception, state: _RequestState, authorized: bool
    ) -> Answer:
        verdict = answer_for(exc)
        state.reason = verdict.reason
        if verdict.unexpected:
            _log.failure(
                "{method} {path}: unexpected error",
                Failure(exc),  # type: ignore[no-untyped-call]
                method=request.method.decode("latin-1"),
                path=request.path.decode("latin-1"),
            )
        elif verdict.backend_fault:
            _log_backend_fault(request, exc, transient=verdict.code == http.SERVICE_UNAVAILABLE)
        if not authorized:
            # One answer for every path: its body must not tell which paths exist.
            return Answer(verdict.code)
        try:
            verbose = self.error_bodies_wanted(request)
        except Exception:  # noqa: BLE001 -- a guess at the route must not turn a 4xx into a 500
            verbose = True
        if not verbose:
            return Answer(verdict.code)
        return Answer(verdict.code, verdict.reason.encode("utf-8"), TEXT)

    def _send_headers(self, request: WebRequest, answer: Answer) -> None:
        request.setResponseCode(answer.code, _PHRASES.get(answer.code))
        if answer.content_type is not None:
            request.setHeader(b"content-type", answer.content_type)
        for name, value in answer.headers:
            request.setHeader(name, value)
        if answer.stream is None and answer.code not in (http.NO_CONTENT, http.NOT_MODIFIED):
            # (RFC 9110: no Content-Length on a 204.)
            request.setHeader(b"content-length", b"%d" % len(answer.body))

    async def _send_stream(self, request: WebRequest, answer: Answer, gone: list[Failure]) -> None:
        assert answer.stream is not None
        self._send_headers(request, answer)
        throttle = Throttle()
        # A lost connection ends the stream (and gives back what it holds) even
        # when no transport tells the producer.
        request.notifyFinish().addErrback(lambda _: throttle.stopProducing())
        request.registerProducer(throttle, True)
        try:
            await answer.stream(request, throttle)
        except Exception as e:  # noqa: BLE001 -- headers are out: all we can do is cut the connection
            verdict = answer_for(e)
            if verdict.backend_fault:
                _log_backend_fault(request, e, transient=verdict.code == http.SERVICE_UNAVAILABLE)
            else:
                _log.failure("{path}: streaming failed", path=request.path.decode("latin-1"))
            request.unregisterProducer()
            request.loseConnection()
            return
        request.unregisterProducer()
        if not gone and not throttle.stopped:
            request.finish()

    def _log_bridge_failure(self, failure: Failure, request: WebRequest) -> None:
        _log.failure(
            "{path}: failure in the request bridge", failure, path=request.path.decode("latin-1")
        )
        if not request.finished and not getattr(request, "_disconnected", False):
            request.setResponseCode(http.INTERNAL_SERVER_ERROR)
            request.loseConnection()

    def _log_request(self, request: WebRequest, state: _RequestState) -> None:
        now = self._clock.seconds()
        self.traffic.record(now, request.code, _declared_length(request), request.sentLength)
        # Successes are routine (a connected client polls the version about
        # once a second; a busy node answers thousands a second): debug only.
        failed = request.code >= 400 or state.gone
        _log.emit(
            LogLevel.info if failed else LogLevel.debug,
            "{method} {path} {code} {duration:.3f}s{note}",
            method=request.method.decode("latin-1"),
            path=request.path.decode("latin-1"),
            code=request.code,
            duration=now - state.started,
            note=(f" ({state.reason})" if state.reason else "")
            + (" (client disconnected)" if state.gone else ""),
        )


def _log_backend_fault(request: WebRequest, exc: Exception, *, transient: bool) -> None:
    """A storage backend fault: its message (operation, key, status; never a secret), no
    traceback; a warning when transient (an S3 outage: the client may retry), else an error."""
    _log.emit(
        LogLevel.warn if transient else LogLevel.error,
        "{method} {path}: {what}: {fault}",
        method=request.method.decode("latin-1"),
        path=request.path.decode("latin-1"),
        what="transient storage backend failure" if transient else "storage backend failure",
        fault=str(exc),
    )


def release_frames(exc: BaseException | None) -> None:
    """Drop the locals of the finished frames an answered error still points to.

    An exception raised through a Deferred sits in a reference cycle
    (traceback, frame, Failure) that only the cyclic collector frees, and
    that can be long after: measured, each refused 57 MiB read-test-write
    body stayed in memory, one more per request, until a full collection.
    Clearing the frames (a frame still running is left alone) lets the
    request's body go as soon as the answer is made.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__context__ or exc.__cause__


def _declared_length(request: WebRequest) -> int:
    """The request's ``Content-Length`` (0 when absent or not a number)."""
    values = request.requestHeaders.getRawHeaders(b"content-length")
    if values and values[0].isdigit() and len(values[0]) < 20:
        return int(values[0])
    return 0
