"""An HTTP proxy between the S3 backend and moto that records requests and injects faults.

It runs in the test's reactor. Every request is recorded (method, path,
query, headers) so tests can count requests per operation and check headers
(e.g. the DevPay token). With ``fault_rate`` > 0 a request may instead get:
``slowdown`` (503 SlowDown), ``error500`` (500 InternalError), ``reset``
(connection dropped before forwarding), ``reset_after`` (forwarded, so S3
applied it, then the connection dropped before the answer: the nasty case
for retries) or ``slow`` (answered after a delay). The Host header is passed
through unchanged, so signatures still verify behind the proxy.

Two more faults damage an answer S3 did send: ``cut`` (the first half of
its body, without a Content-Length, then the connection closed: the client
sees an answer that looks complete) and ``damage`` (one byte of the body
inverted, length unchanged). ``reset_mid_body`` drops the connection once
half of the request's body has arrived (the client is still sending it).
``arm`` makes a test deterministic: the Nth request matching a predicate
gets a given fault, whatever ``fault_rate``.

``quirk`` makes moto behave like another S3 service in the ways that matter
to conditional writes (``QUIRKS``):

- ``rgw``: as Ceph RGW 16: a PUT with ``If-Match`` holding a quoted ETag is
  refused with 412 even when it matches (the bare ETag works), and
  ``If-Match`` on a missing key answers 412 instead of 404;
- ``ignore-conditions``: as Garage or older SeaweedFS: ``If-Match`` and
  ``If-None-Match`` on PUT are dropped, so every PUT overwrites. The headers
  are signed, so this needs moto without signature checking.

``refuse`` (a callable) answers the requests it picks with the error it gives,
without forwarding them (e.g. every PUT of a lease object).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import treq
from attrs import evolve, frozen
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.task import deferLater
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

FAULTS = ("slowdown", "error500", "reset", "reset_after", "slow")
# Faults of the answer's body (forwarded first: S3 applied the request).
BODY_FAULTS = ("cut", "damage")
# Armed only: the connection dropped while the request's body arrives.
MID_BODY = "reset_mid_body"
QUIRKS = ("rgw", "ignore-conditions")
_CONDITIONS = {b"if-match", b"if-none-match"}
_HOP = {b"content-length", b"transfer-encoding", b"connection", b"keep-alive"}


@frozen
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    fault: str | None

    @property
    def operation(self) -> str:
        """The S3 operation, for request budgets: GET, PUT, HEAD, DELETE, LIST, ..."""
        params = dict(p.partition("=")[::2] for p in self.query.split("&") if p)
        if self.method == "GET" and params.get("list-type") == "2":
            return "LIST"
        if "uploads" in params:
            return "MULTIPART-LIST" if self.method == "GET" else "MULTIPART-CREATE"
        if "uploadId" in params:
            names = {"PUT": "UPLOAD-PART", "POST": "MULTIPART-COMPLETE"}
            return names.get(self.method, "MULTIPART-ABORT")
        if "delete" in params and self.method == "POST":
            return "DELETE-OBJECTS"
        return self.method


class _Armed:
    """Fault ``fault`` for the ``nth`` request matching ``when`` (counted from arming)."""

    def __init__(self, when: Callable[[Recorded], bool], fault: str, nth: int) -> None:
        self.when = when
        self.fault = fault
        self.left = nth


class FaultProxy(Resource):
    isLeaf = True

    def __init__(
        self,
        target: str,
        *,
        fault_rate: float = 0.0,
        seed: int = 1,
        delay: float = 0.3,
        quirk: str | None = None,
    ):
        super().__init__()
        self.target = target.rstrip("/")
        self.fault_rate = fault_rate
        self.faults: tuple[str, ...] = FAULTS
        self.rng = random.Random(seed)
        self.delay = delay
        self.requests: list[Recorded] = []
        self.port: object = None
        self.on_request: Callable[[Recorded], None] | None = None
        self._armed: list[_Armed] = []
        if quirk is not None and quirk not in QUIRKS:
            raise ValueError(f"unknown quirk {quirk!r}")
        self.quirk = quirk
        self.refuse: Callable[[Recorded], tuple[int, str] | None] | None = None

    def arm(self, when: Callable[[Recorded], bool], fault: str, nth: int = 1) -> None:
        """Give the ``nth`` request for which ``when`` is true the fault ``fault``."""
        if fault not in (*FAULTS, *BODY_FAULTS, MID_BODY):
            raise ValueError(f"unknown fault {fault!r}")
        self._armed.append(_Armed(when, fault, nth))

    def disarm(self) -> None:
        self._armed.clear()

    @property
    def armed(self) -> int:
        """Armed faults not injected yet."""
        return len(self._armed)

    def _scheduled(self, candidate: Recorded, *, mid_body: bool = False) -> str | None:
        """The fault armed for this request, if any (``mid_body``: only ``MID_BODY``)."""
        for armed in self._armed:
            if (armed.fault == MID_BODY) == mid_body and armed.when(candidate):
                armed.left -= 1
                if armed.left == 0:
                    self._armed.remove(armed)
                    return armed.fault
        return None

    def counts(self) -> Counter[str]:
        return Counter(r.operation for r in self.requests if r.fault is None)

    def clear(self) -> None:
        self.requests.clear()

    def render(self, request: Request) -> object:
        uri = request.uri.decode("latin-1")
        path, _, query = uri.partition("?")
        headers = {
            k.decode("latin-1").lower(): v[-1].decode("latin-1")
            for k, v in request.requestHeaders.getAllRawHeaders()
        }
        fault = self._scheduled(Recorded(request.method.decode(), path, query, headers, None))
        if fault is None and self.fault_rate and self.rng.random() < self.fault_rate:
            fault = self.rng.choice(self.faults)
        recorded = Recorded(request.method.decode(), path, query, headers, fault)
        self.requests.append(recorded)
        if self.on_request is not None:
            self.on_request(recorded)
        assert request.content is not None  # Site's requests always have a body file
        body = request.content.read()
        if fault == "slowdown":
            return self._error(request, 503, "SlowDown")
        if fault == "error500":
            return self._error(request, 500, "InternalError")
        if fault == "reset":
            ITCPTransport(request.transport).abortConnection()
            return NOT_DONE_YET
        refusal = self.refuse(recorded) if self.refuse is not None else None
        if refusal is not None:
            return self._error(request, *refusal)
        if self.quirk == "rgw" and _conditional_put(recorded, "if-match").startswith('"'):
            return self._error(request, 412, "PreconditionFailed")
        defer.ensureDeferred(self._forward(request, uri, body, fault))
        return NOT_DONE_YET

    def _error(self, request: Request, status: int, code: str) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/xml")
        return f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()

    async def _forward(self, request: Request, uri: str, body: bytes, fault: str | None) -> None:
        out = Headers()
        drop = _CONDITIONS if self.quirk == "ignore-conditions" and request.method == b"PUT" else ()
        for k, v in request.requestHeaders.getAllRawHeaders():
            if k.lower() not in _HOP and k.lower() not in drop:
                out.setRawHeaders(k, v)
        try:
            if fault == "slow":
                await deferLater(reactor, self.delay)
            response = await treq.request(
                request.method.decode(),
                (self.target + uri).encode("latin-1"),
                headers=out,
                data=body if body or request.method in (b"PUT", b"POST") else None,
                persistent=False,
            )
            content = await treq.content(response)
        except Exception:  # noqa: BLE001 - the upstream failed: drop the client connection
            ITCPTransport(request.transport).abortConnection()
            return
        if getattr(request, "_disconnected", False):
            return  # the client went away (it timed out, or its node stopped)
        if fault == "reset_after":
            ITCPTransport(request.transport).abortConnection()
            return
        if fault == "cut":
            _send_cut(request, response.code, response.headers, content)
            return
        if fault == "damage" and content:
            middle = len(content) // 2
            content = content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :]
        if (
            self.quirk == "rgw"
            and response.code == 404
            and request.method == b"PUT"
            and request.requestHeaders.hasHeader(b"if-match")
        ):
            answer = self._error(request, 412, "PreconditionFailed")  # AWS: 404
            request.setHeader(b"content-length", b"%d" % len(answer))
            request.write(answer)
            request.finish()
            return
        request.setResponseCode(response.code)
        for k, v in response.headers.getAllRawHeaders():
            if k.lower() not in _HOP:
                request.responseHeaders.setRawHeaders(k, v)
        if request.method == b"HEAD":
            length = response.headers.getRawHeaders(b"content-length")
            if length:
                request.responseHeaders.setRawHeaders(b"content-length", length)
        if content:
            request.write(content)
        request.finish()


def _send_cut(request: Request, code: int, headers: Headers, content: bytes) -> None:
    """The answer's first half with no Content-Length, then the connection closed.

    Written to the socket directly: Twisted's own answer would be chunked,
    and a chunked body cut short is detected by the client. Without a length
    the end of the connection looks like the end of the body.
    """
    lines = [b"HTTP/1.1 %d Cut\r\n" % code]
    for k, values in headers.getAllRawHeaders():
        if k.lower() not in _HOP:
            lines.extend(k + b": " + v + b"\r\n" for v in values)
    lines.append(b"Connection: close\r\n\r\n")
    transport = request.channel.transport
    assert transport is not None  # the connection is still open: the answer is being written
    transport.write(b"".join(lines) + content[: len(content) // 2])
    transport.loseConnection()


class _Request(Request):
    """A request that can drop its connection half-way through receiving its body."""

    _cut_at: int | None = None
    _received = 0

    def gotLength(self, length: int | None) -> None:
        super().gotLength(length)
        # Site.buildProtocol sets the channel's site; HTTPChannel does not declare it.
        site: Site = self.channel.site  # type: ignore[attr-defined]
        proxy = site.resource
        if not length or not isinstance(proxy, FaultProxy):
            return
        uri = self.channel._command, self.channel._path  # the request line, parsed already
        path, _, query = uri[1].decode("latin-1").partition("?")
        headers = {
            k.decode("latin-1").lower(): v[-1].decode("latin-1")
            for k, v in self.requestHeaders.getAllRawHeaders()
        }
        candidate = Recorded(uri[0].decode("latin-1"), path, query, headers, None)
        if proxy._scheduled(candidate, mid_body=True) is not None:
            proxy.requests.append(evolve(candidate, fault=MID_BODY))
            self._cut_at = max(1, length // 2)

    _dropped = False

    def handleContentChunk(self, data: bytes) -> None:
        self._received += len(data)
        if self._cut_at is not None and self._received >= self._cut_at:
            self._cut_at = None
            self._dropped = True
            ITCPTransport(self.channel.transport).abortConnection()
        if not self._dropped:
            super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # Data already read in the same turn may complete the body: never forward it.
        if not self._dropped:
            super().requestReceived(command, path, version)


def _conditional_put(recorded: Recorded, header: str) -> str:
    """The value of a condition header of a PUT ("" if none, or not a PUT)."""
    return recorded.headers.get(header, "") if recorded.method == "PUT" else ""


def start_proxy(target: str, **kw: object) -> tuple[FaultProxy, str]:
    """Listen on a free loopback port; return the proxy and its URL."""
    proxy = FaultProxy(target, **kw)  # type: ignore[arg-type]
    site = Site(proxy)
    site.requestFactory = _Request
    # Twisted annotates the factory as ServerFactory[...], which Site does not match.
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
    proxy.port = port
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    return proxy, f"http://127.0.0.1:{address.port}"
