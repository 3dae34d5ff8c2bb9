"""Fixtures of the HTTP front-end tests: a real Site on 127.0.0.1 over the memory backend.

Fixtures are synchronous (driving coroutines with ``pytest_twisted.blockon``);
requests go through treq with a non-persistent pool, so no connection
outlives a test.
"""

from __future__ import annotations

import os
from base64 import b64encode
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attr
import cbor2
import pytest
import pytest_twisted
import treq
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.http import Limits, lease_view_resource, storage_resource, storage_site
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import run
from tahoe_cloud.testing.support import start_clock
from tahoe_cloud.vocabulary import StorageIndex

SWISSNUM = b"abcdefghijklmnopqrstuvwxyz234567"


def new_si() -> StorageIndex:
    return StorageIndex(os.urandom(16))


def secret_header(kind: str, value: bytes) -> bytes:
    return kind.encode("ascii") + b" " + b64encode(value)


@attr.s(auto_attribs=True)
class Reply:
    code: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name.encode("ascii"))
        return None if values is None else values[0].decode("latin-1")

    def cbor(self) -> Any:
        assert self.header("content-type") == "application/cbor", (self.code, self.body)
        return cbor2.loads(self.body)


@attr.s(auto_attribs=True)
class Gbs:
    """A running storage HTTP server and a way to talk to it."""

    base: str
    server: StorageServer
    backend: MemoryBackend
    clock: Clock
    client: HTTPClient

    async def request(
        self,
        method: str,
        path: str,
        *,
        secrets: Mapping[str, bytes] | Sequence[tuple[str, bytes]] = (),
        headers: Mapping[str, Sequence[bytes]] | None = None,
        body: bytes | None = None,
        cbor: object = None,
        auth: bytes | None = b"Tahoe-LAFS " + b64encode(SWISSNUM),
    ) -> Reply:
        h = Headers()
        if auth is not None:
            h.addRawHeader("authorization", auth)
        items = secrets.items() if isinstance(secrets, Mapping) else secrets
        for kind, value in items:
            h.addRawHeader("x-tahoe-authorization", secret_header(kind, value))
        if cbor is not None:
            body = cbor2.dumps(cbor)
            h.addRawHeader("content-type", "application/cbor")
        for name, values in (headers or {}).items():
            h.setRawHeaders(name, list(values))
        response = await self.client.request(method, self.base + path, headers=h, data=body)
        content = await treq.content(response)
        return Reply(response.code, response.headers, content)

    async def allocate(
        self,
        si: StorageIndex,
        shares: set[int],
        size: int,
        upload: bytes = b"u" * 20,
        lease: bytes = b"r" * 32,
    ) -> Reply:
        return await self.request(
            "POST",
            f"/storage/v1/immutable/{si.text}",
            secrets={
                "lease-renew-secret": lease,
                "lease-cancel-secret": b"c" * 32,
                "upload-secret": upload,
            },
            cbor={"share-numbers": shares, "allocated-size": size},
        )

    async def write(
        self, si: StorageIndex, shnum: int, offset: int, data: bytes, upload: bytes = b"u" * 20
    ) -> Reply:
        return await self.request(
            "PATCH",
            f"/storage/v1/immutable/{si.text}/{shnum}",
            secrets={"upload-secret": upload},
            headers={"content-range": [b"bytes %d-%d/*" % (offset, offset + len(data) - 1)]},
            body=data,
        )

    async def upload(self, si: StorageIndex, shnum: int, data: bytes) -> None:
        assert (await self.allocate(si, {shnum}, len(data))).code == 200
        reply = await self.write(si, shnum, 0, data)
        assert reply.code == 201, reply

    async def rtw(
        self, si: StorageIndex, vectors: dict[int, Any], reads: list[Any], we: bytes = b"w" * 32
    ) -> Reply:
        return await self.request(
            "POST",
            f"/storage/v1/mutable/{si.text}/read-test-write",
            secrets={
                "write-enabler": we,
                "lease-renew-secret": b"r" * 32,
                "lease-cancel-secret": b"c" * 32,
            },
            cbor={"test-write-vectors": vectors, "read-vector": reads},
        )


def _listen(resource: Any, limits: Limits | None = None) -> Any:
    return reactor.listenTCP(0, storage_site(resource, limits=limits), interface="127.0.0.1")  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return start_clock()


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def gbs(clock: Clock, limits: Limits) -> Iterator[Gbs]:
    backend = MemoryBackend()
    server = StorageServer(backend, nodeid=b"n" * 20, clock=clock)
    run(server.start())
    port = _listen(storage_resource(server, SWISSNUM, limits=limits), limits)
    pool = HTTPConnectionPool(reactor, persistent=False)
    client = HTTPClient(Agent(reactor, pool=pool))
    try:
        yield Gbs(f"http://127.0.0.1:{port.getHost().port}", server, backend, clock, client)
    finally:
        pytest_twisted.blockon(port.stopListening())
        run(server.stop())


def serve_beside(gbs: Gbs, resource: Any) -> Iterator[Gbs]:
    """``gbs`` with its requests sent to ``resource``, on a listener of its own."""
    port = _listen(resource)
    try:
        yield attr.evolve(gbs, base=f"http://127.0.0.1:{port.getHost().port}")
    finally:
        pytest_twisted.blockon(port.stopListening())


@pytest.fixture
def lease_view(gbs: Gbs) -> Iterator[Gbs]:
    """The test-only lease view over the same server, on its own listener."""
    yield from serve_beside(gbs, lease_view_resource(gbs.server, SWISSNUM, test_clock=gbs.clock))
