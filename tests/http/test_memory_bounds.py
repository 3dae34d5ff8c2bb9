"""Server-wide bounds: bytes for unsent answers, bodies in memory, writes in flight, connections.

Each test checks that a bound holds by what is held or answered (budgets'
counts, status codes, connections closed), never by timing.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.web.http_headers import Headers
from twisted.web.test.requesthelper import DummyChannel

from tahoe_cloud.http import storage_resource, storage_site
from tahoe_cloud.http.async_bridge import Throttle
from tahoe_cloud.http.body import BoundedRequest
from tahoe_cloud.http.budget import ByteBudget
from tahoe_cloud.http.connections import ConnectionLimit
from tahoe_cloud.http.reads import read_share
from tests.http.conftest import SWISSNUM, Gbs, new_si

MiB = 1024 * 1024
SHARE = bytes(range(256)) * (12 * 4096)  # 12 MiB


class SlowClient:
    """A request whose connection takes nothing until ``drain()``: every write pauses it."""

    def __init__(self, range_header: bytes) -> None:
        self.requestHeaders = Headers({b"range": [range_header]})
        self.throttle = Throttle()
        self.received = 0

    def write(self, data: bytes) -> None:
        self.received += len(data)
        self.throttle.pauseProducing()

    def drain(self) -> None:
        self.throttle.resumeProducing()


async def share_read(offset: int, size: int) -> bytes:
    return SHARE[offset : offset + size]


def start(client: SlowClient, budget: ByteBudget) -> Deferred[Any]:
    async def run() -> None:
        answer = await read_share(client, share_read, budget)  # type: ignore[arg-type]
        assert answer.stream is not None
        await answer.stream(client, client.throttle)  # type: ignore[arg-type]

    return Deferred.fromCoroutine(run())


def test_readers_that_do_not_read_hold_at_most_the_answer_budget() -> None:
    budget = ByteBudget(6 * MiB)
    clients = [SlowClient(b"bytes=0-%d" % (4 * MiB - 1)) for _ in range(60)]
    done = [start(c, budget) for c in clients]
    # None of them reads: together they hold no more than the budget, and
    # each still got a first piece (the budget is handed out in smaller
    # grants as it fills, so a few cannot leave the others waiting).
    assert budget.peak <= budget.limit
    assert all(c.received > 0 for c in clients) and not any(d.called for d in done)
    # A client that reads gets its whole answer meanwhile.
    reader = SlowClient(b"bytes=0-%d" % (4 * MiB - 1))
    finished = start(reader, budget)
    while not finished.called:
        reader.drain()
    assert reader.received == 4 * MiB and budget.peak <= budget.limit
    while not all(d.called for d in done):
        for c in clients:
            c.drain()
    assert all(c.received == 4 * MiB for c in clients) and budget.used == 0


def test_a_long_range_is_streamed_piece_by_piece_within_the_budget() -> None:
    budget = ByteBudget(5 * MiB)
    client = SlowClient(b"bytes=0-%d" % (len(SHARE) - 1))
    done = start(client, budget)
    while not done.called:
        assert budget.used <= 4 * MiB
        client.drain()
    assert client.received == len(SHARE) and budget.used == 0


def test_bodies_past_the_body_budget_go_to_temporary_files() -> None:
    factory = type("R", (BoundedRequest,), {"body_budget": ByteBudget(2 * MiB)})
    requests = [factory(DummyChannel()) for _ in range(3)]
    for r in requests:
        r.gotLength(MiB)
    assert [isinstance(r.content, BytesIO) for r in requests] == [True, True, False]
    assert factory.body_budget.used == 2 * MiB  # type: ignore[attr-defined]
    requests[0].connectionLost(Exception("gone"))
    requests[1].finish()
    assert factory.body_budget.used == 0  # type: ignore[attr-defined]
    requests[2].content.close()


@pytest_twisted.ensureDeferred
async def test_immutable_writes_in_flight_stay_within_the_write_budget(gbs: Gbs) -> None:
    resource: Any = storage_resource(gbs.server, SWISSNUM, clock=gbs.clock)
    resource.write_budget = ByteBudget(MiB)
    port = reactor.listenTCP(0, storage_site(resource), interface="127.0.0.1")  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{port.getHost().port}"  # type: ignore[attr-defined]
    local = Gbs(url, gbs.server, gbs.backend, gbs.clock, gbs.client)
    gate: Deferred[None] = Deferred()
    in_flight = []
    real_write = gbs.server.write_immutable

    async def gated_write(*args: Any, **kwargs: Any) -> Any:
        in_flight.append(len(kwargs["data"]))
        await gate
        return await real_write(*args, **kwargs)

    gbs.server.write_immutable = gated_write  # type: ignore[method-assign]
    try:
        sis = [new_si() for _ in range(4)]
        for si in sis:
            assert (await local.allocate(si, {0}, 600_000)).code == 200
        writes = [
            Deferred.fromCoroutine(local.write(si, 0, 0, bytes([n]) * 600_000))
            for n, si in enumerate(sis)
        ]
        while len(in_flight) < 1:
            await deferred_later(0.01)
        await deferred_later(0.2)
        assert len(in_flight) == 1  # a second 600 kB piece would pass the 1 MiB budget
        gate.callback(None)
        codes = [(await w).code for w in writes]
        assert codes == [201, 201, 201, 201]
        assert resource.write_budget.used == 0 and resource.write_budget.peak <= MiB
    finally:
        await port.stopListening()  # type: ignore[misc]


def deferred_later(seconds: float) -> Deferred[None]:
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds, lambda: None)


class _Watch(Protocol):
    def __init__(self, closed: Deferred[None]) -> None:
        self.closed = closed

    def connectionLost(self, reason: Any = None) -> None:
        self.closed.callback(None)


async def _connect(port: int) -> tuple[Protocol, Deferred[None]]:
    closed: Deferred[None] = Deferred()
    made: Deferred[Protocol] = Deferred()

    class Factory(ClientFactory):
        def buildProtocol(self, addr: Any) -> Protocol:
            proto = _Watch(closed)
            reactor.callLater(0, made.callback, proto)
            return proto

    reactor.connectTCP("127.0.0.1", port, Factory())
    return await made, closed


@pytest_twisted.ensureDeferred
async def test_connections_past_the_cap_are_closed(gbs: Gbs) -> None:
    resource = storage_resource(gbs.server, SWISSNUM, clock=gbs.clock)
    limit = ConnectionLimit(storage_site(resource), 2)
    port = reactor.listenTCP(0, limit, interface="127.0.0.1")  # type: ignore[arg-type]
    try:
        number = port.getHost().port  # type: ignore[attr-defined]
        first, first_closed = await _connect(number)
        _second, second_closed = await _connect(number)
        _, third_closed = await _connect(number)
        await third_closed  # closed by the server at once
        assert limit.refused == 1 and not first_closed.called and not second_closed.called
        assert first.transport is not None
        first.transport.loseConnection()
        await first_closed
        while limit.open_connections > 1:
            await deferred_later(0.01)
        _, fourth_closed = await _connect(number)
        await deferred_later(0.1)
        assert not fourth_closed.called and limit.refused == 1
    finally:
        await port.stopListening()  # type: ignore[misc]
        for proto in list(limit.protocols):
            proto.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_a_refused_body_is_freed_without_waiting_for_the_cyclic_collector(gbs: Gbs) -> None:
    """A 400 to a large read-test-write must not keep its body alive in a reference cycle."""
    import gc
    import struct
    import tracemalloc

    count = 4 * MiB
    body = bytes([0x9B]) + struct.pack(">Q", count) + b"\x81\x80" * count  # 8 MiB CBOR bomb
    secrets = {
        "write-enabler": b"w" * 32,
        "lease-renew-secret": b"r" * 32,
        "lease-cancel-secret": b"c" * 32,
    }
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        reply = await gbs.request(
            "POST",
            f"/storage/v1/mutable/{new_si().text}/read-test-write",
            secrets=secrets,
            headers={"content-type": [b"application/cbor"]},
            body=body,
        )
        await deferred_later(0.05)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert reply.code == 400
    assert held < 4 * MiB, f"{held / MiB:.1f} MiB still held after the answer"


def test_an_answer_never_sent_gives_its_bytes_back() -> None:
    """A client gone before its answer could be written: the buffered range is released."""
    budget = ByteBudget(8 * MiB)
    client = SlowClient(b"bytes=0-%d" % (MiB - 1))
    answers: list[Any] = []
    Deferred.fromCoroutine(read_share(client, share_read, budget)).addCallback(  # type: ignore[arg-type]
        answers.append
    )
    (answer,) = answers
    assert budget.used == MiB and answer.discard is not None
    answer.discard()
    answer.discard()  # at most once
    assert budget.used == 0


@pytest_twisted.ensureDeferred
async def test_a_reader_that_hangs_up_gives_its_bytes_back(gbs: Gbs) -> None:
    import socket
    from base64 import b64encode

    resource: Any = storage_resource(gbs.server, SWISSNUM, clock=gbs.clock)
    port = reactor.listenTCP(0, storage_site(resource), interface="127.0.0.1")  # type: ignore[arg-type]
    si = new_si()
    await gbs.upload(si, 0, SHARE)
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            sock.connect(("127.0.0.1", port.getHost().port))  # type: ignore[attr-defined]
        except BlockingIOError:
            pass
        await deferred_later(0.05)
        sock.send(
            b"GET /storage/v1/immutable/%s/0 HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Tahoe-LAFS %s\r\nRange: bytes=0-%d\r\n\r\n"
            % (si.text.encode(), b64encode(SWISSNUM), 4 * MiB - 1)
        )
        for _ in range(200):
            if resource.answer_budget.used:
                break
            await deferred_later(0.01)
        assert resource.answer_budget.used > 0  # the answer sits unread
        sock.close()
        for _ in range(500):
            if not resource.answer_budget.used:
                break
            await deferred_later(0.01)
        assert resource.answer_budget.used == 0
    finally:
        sock.close()
        await port.stopListening()  # type: ignore[misc]
