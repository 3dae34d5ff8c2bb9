"""A lease the backend could not store is an error: a failure status, logged at error level.

The stock client hides a failed renewal (``deep-check --add-lease`` still
says Healthy), so the answer must not be a success and the server's log must
say it. Over HTTP, on cloud.s3, with the proxy refusing every PUT of a lease
object (an outage, retried until the budget ends; or a definite refusal).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, LogLevel, globalLogPublisher
from twisted.web.client import Agent, HTTPConnectionPool
from zope.interface import provider

from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.retry import RetryPolicy
from tahoe_cloud.http import storage_resource, storage_site
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import run
from tahoe_cloud.testing.support import START_TIME
from tests.http.conftest import SWISSNUM, Gbs, new_si
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.makers import make_backend
from tests.s3.moto import MotoServer
from tests.s3.proxy import FaultProxy, Recorded, start_proxy

pytestmark = pytest.mark.s3

DAY = 24 * 3600


@pytest.fixture
def gbs_s3(moto: MotoServer, tmp_path: Path) -> Iterator[tuple[Gbs, FaultProxy]]:
    """An HTTP storage server on cloud.s3, its S3 requests through the proxy."""
    bucket = new_bucket_name()
    c = make_client(moto, bucket)
    run(c.create_bucket())
    run(c.close())
    proxy, url = start_proxy(moto.url)
    policy = RetryPolicy(max_attempts=3, max_total_time=5, base_delay=0.01, max_delay=0.05)
    backend = make_backend(
        make_client(moto, bucket, url=url, policy=policy), tmp_path, keys=KeyLayout("p/")
    )
    clock = Clock()
    clock.advance(START_TIME)
    server = StorageServer(backend, nodeid=b"n" * 20, clock=clock)
    run(server.start())
    port = reactor.listenTCP(
        0,
        storage_site(storage_resource(server, SWISSNUM)),  # type: ignore[arg-type]
        interface="127.0.0.1",
    )
    client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    base = f"http://127.0.0.1:{address.port}"
    try:
        yield Gbs(base, server, backend, clock, client), proxy  # type: ignore[arg-type]
    finally:
        pytest_twisted.blockon(port.stopListening())
        run(server.stop())
        pytest_twisted.blockon(proxy.port.stopListening())  # type: ignore[attr-defined]


def refuse_lease_puts(status: int, code: str) -> Any:
    def refuse(r: Recorded) -> tuple[int, str] | None:
        return (status, code) if r.method == "PUT" and "/p/leases/" in r.path else None

    return refuse


def mutable_write(data: bytes) -> dict[int, Any]:
    return {0: {"test": [], "write": [{"offset": 0, "data": data}], "new-length": None}}


@pytest.fixture
def errors_logged() -> Iterator[list[str]]:
    seen: list[str] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("log_level") == LogLevel.error and "during" in event:
            seen.append(str(event["during"]))

    globalLogPublisher.addObserver(observe)
    yield seen
    globalLogPublisher.removeObserver(observe)


@pytest.mark.parametrize(
    ("status", "code", "answer"),
    [(503, "SlowDown", 503), (403, "AccessDenied", 500)],
)
@pytest_twisted.ensureDeferred
async def test_a_lease_that_could_not_be_stored_fails_the_request(
    gbs_s3: tuple[Gbs, FaultProxy],
    errors_logged: list[str],
    status: int,
    code: str,
    answer: int,
) -> None:
    gbs, proxy = gbs_s3
    si = new_si()
    await gbs.upload(si, 0, b"immutable share")
    msi = new_si()
    assert (await gbs.rtw(msi, mutable_write(b"m"), [])).code == 200
    before = await gbs.server.get_leases(si)
    gbs.clock.advance(DAY)
    proxy.refuse = refuse_lease_puts(status, code)
    renew = {"lease-renew-secret": b"r" * 32, "lease-cancel-secret": b"c" * 32}
    reply = await gbs.request("PUT", f"/storage/v1/lease/{si.text}", secrets=renew)
    assert reply.code == answer, reply
    # A new lease (another renew secret): the same.
    other = {"lease-renew-secret": b"R" * 32, "lease-cancel-secret": b"C" * 32}
    reply = await gbs.request("PUT", f"/storage/v1/lease/{si.text}", secrets=other)
    assert reply.code == answer, reply
    # allocate on a share already held renews the lease: it fails too.
    reply = await gbs.allocate(si, {0}, 15, lease=b"x" * 32)
    assert reply.code == answer, reply
    # A mutable write whose lease could not be stored is not answered as a success.
    reply = await gbs.rtw(msi, mutable_write(b"n"), [])
    assert reply.code == answer, reply
    assert errors_logged == ["a lease renewal", "a lease renewal", "allocate", "a mutable write"]
    proxy.refuse = None
    assert await gbs.server.get_leases(si) == before  # nothing renewed
    reply = await gbs.request("PUT", f"/storage/v1/lease/{si.text}", secrets=renew)
    assert reply.code == 204, reply
    after = (await gbs.server.get_leases(si))[0]
    assert max(x.expiration for x in after) == max(x.expiration for x in before[0]) + DAY
