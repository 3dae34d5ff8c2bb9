"""Through a recording, fault-injecting proxy: request budgets, the DevPay header, 10% faults."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3.config import parse_s3_config
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.retry import RetryPolicy
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import run
from tahoe_cloud.testing.support import NODEID, START_TIME, lease_secrets, new_si, upload_share
from tahoe_cloud.vocabulary import StorageIndex, WriteVector
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.logwatch import describe, logged_errors
from tests.s3.makers import make_backend
from tests.s3.moto import MotoServer
from tests.s3.proxy import BODY_FAULTS, FAULTS, FaultProxy, start_proxy
from tests.s3.test_config import node_config

pytestmark = pytest.mark.s3

MiB = 1024 * 1024


@pytest.fixture
def proxied(moto: MotoServer) -> Iterator[tuple[FaultProxy, str, str]]:
    bucket = new_bucket_name()
    c = make_client(moto, bucket)
    run(c.create_bucket())
    run(c.close())
    proxy, url = start_proxy(moto.url)
    yield proxy, url, bucket
    pytest_twisted.blockon(proxy.port.stopListening())  # type: ignore[attr-defined]


def server_on(moto: MotoServer, url: str, bucket: str, tmp: Path, **kw: object) -> StorageServer:
    clock = Clock()
    clock.advance(START_TIME)
    policy = kw.pop("policy", None) or RetryPolicy(
        max_attempts=8, max_total_time=30, base_delay=0.01, max_delay=0.1
    )
    client = make_client(moto, bucket, url=url, policy=policy, token=kw.pop("token", None))  # type: ignore[arg-type]
    return StorageServer(make_backend(client, tmp, **kw), nodeid=NODEID, clock=clock)


@pytest_twisted.ensureDeferred
async def test_request_budgets_at_the_proxy(
    moto: MotoServer, proxied: tuple[FaultProxy, str, str], tmp_path: Path
) -> None:
    proxy, url, bucket = proxied
    server = server_on(moto, url, bucket, tmp_path, keys=KeyLayout("budget/"))
    await server.start()
    si = new_si()
    data = os.urandom(4 * MiB)
    secret = os.urandom(20)
    proxy.clear()
    await server.allocate_buckets(
        si,
        lease=lease_secrets(),
        upload_secret=secret,
        share_numbers=frozenset({0}),
        allocated_size=len(data),
    )
    assert proxy.counts() == {"LIST": 1}
    proxy.clear()
    for off in range(0, len(data), MiB):
        await server.write_immutable(
            si, 0, upload_secret=secret, offset=off, data=data[off : off + MiB]
        )
    # The lease object PUT (create-only: no GET, the listing was empty), then the share PUT.
    assert proxy.counts() == {"PUT": 2}
    # The shares query of a reader: answered from the listing cache, which the
    # publish updated. Then three 1 MiB reads: one GET of the 4 MiB read-ahead
    # window (the whole share here), no LIST, no HEAD.
    proxy.clear()
    assert await server.list_immutable_shares(si) == {0}
    for off in (0, MiB, 3 * MiB):
        assert await server.read_immutable(si, 0, off, MiB) == data[off : off + MiB]
    assert proxy.counts() == {"GET": 1}
    assert [r.headers.get("range") for r in proxy.requests] == [f"bytes=0-{4 * MiB - 1}"]
    # The stock client's shares query, then its allocate, upload and a later
    # query: one LIST for all of them.
    si2 = new_si()
    proxy.clear()
    assert await server.list_immutable_shares(si2) == frozenset()
    assert await server.list_immutable_shares(si2) == frozenset()  # negative entry
    await server.allocate_buckets(
        si2,
        lease=lease_secrets(),
        upload_secret=secret,
        share_numbers=frozenset({0}),
        allocated_size=MiB,
    )
    await server.write_immutable(si2, 0, upload_secret=secret, offset=0, data=data[:MiB])
    assert await server.list_immutable_shares(si2) == {0}
    assert proxy.counts() == {"LIST": 1, "PUT": 2}
    proxy.clear()
    assert await server.read_immutable(si2, 0, 0, MiB) == data[:MiB]
    assert proxy.counts() == {"GET": 1}
    # Every PUT carried a Content-MD5.
    await upload_share(server, new_si(), 1, b"abc")
    assert all("content-md5" in r.headers for r in proxy.requests if r.method == "PUT")
    await server.stop()
    # After a restart (empty cache): a read of a share never listed is one
    # ranged GET (its size comes from Content-Range, no HEAD); the first
    # shares query is one LIST, later ones none.
    again = server_on(moto, url, bucket, tmp_path / "again", keys=KeyLayout("budget/"))
    await again.start()
    proxy.clear()
    assert await again.read_immutable(si, 0, 3 * MiB, 2 * MiB) == data[3 * MiB :]
    assert await again.read_immutable(si, 0, 4 * MiB, MiB) == b""
    assert proxy.counts() == {"GET": 2}
    proxy.clear()
    assert await again.list_immutable_shares(si) == {0}
    assert await again.list_immutable_shares(si) == {0}
    assert await again.read_immutable(si, 0, 0, MiB) == data[:MiB]
    assert proxy.counts() == {"LIST": 1, "GET": 1}
    await again.stop()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"s3usertoken": "{UserToken}AAAA\n", "s3producttoken": "{ProductToken}BBBB\n"},
            "{UserToken}AAAA,{ProductToken}BBBB",
        ),
        ({"s3usertoken": "{UserToken}AAAA\n"}, "{UserToken}AAAA"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_devpay_header_exact_and_signed(
    moto: MotoServer,
    proxied: tuple[FaultProxy, str, str],
    tmp_path: Path,
    files: dict[str, str],
    expected: str,
) -> None:
    """From the private/ files to the wire: every request carries the exact, signed header."""
    proxy, url, bucket = proxied
    token = parse_s3_config(node_config(tmp_path / "node", private=files)).credentials
    assert token.security_token == expected
    server = server_on(moto, url, bucket, tmp_path, token=token.security_token)
    await server.start()
    await upload_share(server, new_si(), 0, b"devpay")
    assert len(proxy.requests) >= 4
    for r in proxy.requests:
        assert r.headers["x-amz-security-token"] == expected
        signed = r.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
        assert "x-amz-security-token" in signed
    await server.stop()


@pytest_twisted.ensureDeferred
async def test_mutable_read_path_budget(
    moto: MotoServer, proxied: tuple[FaultProxy, str, str], tmp_path: Path
) -> None:
    """Reading a mutable share the client knows about: GETs only, no LIST, no HEAD."""
    proxy, url, bucket = proxied
    server = server_on(moto, url, bucket, tmp_path)
    await server.start()
    si, we = new_si(), os.urandom(32)
    data = os.urandom(3 * MiB)
    await server.read_test_write(
        si,
        write_enabler=we,
        lease=lease_secrets(),
        vectors={0: m.TestWriteVectors(writes=(WriteVector(0, data),))},
        read_vector=[],
    )
    proxy.clear()
    assert await server.list_mutable_shares(si) == {0}  # cached: the write updated it
    assert proxy.counts() == {}
    await server.read_mutable(si, 0, 0, 10)  # the head is cached too: one chunk GET
    proxy.clear()
    assert await server.read_mutable(si, 0, MiB, MiB) == data[MiB : 2 * MiB]
    assert proxy.counts() == {"GET": 1}  # exactly one chunk
    await server.stop()


@pytest_twisted.ensureDeferred
async def test_ten_percent_faults(
    moto: MotoServer, proxied: tuple[FaultProxy, str, str], tmp_path: Path
) -> None:
    proxy, url, bucket = proxied
    server = server_on(
        moto,
        url,
        bucket,
        tmp_path,
        multipart_threshold=6 * MiB,
        part_size=mp.MIN_PART_SIZE,
        inline_limit=1000,
        chunk_size=4096,
    )
    proxy.fault_rate = 0.10
    proxy.faults = FAULTS + BODY_FAULTS  # answers cut short or damaged too
    proxy.delay = 0.05
    with logged_errors() as errors:
        await _ten_percent(server, proxy, moto, bucket)
    assert not errors, "\n".join(describe(e) for e in errors)


async def _ten_percent(
    server: StorageServer, proxy: FaultProxy, moto: MotoServer, bucket: str
) -> None:
    await server.start()
    rng = random.Random(3)
    immutable: dict[tuple[StorageIndex, int], bytes] = {}
    for i in range(12):
        si = new_si()
        size = rng.choice([1, 500, 70_000, 300_000]) if i else 11 * MiB
        data = os.urandom(size)
        await upload_share(server, si, i % 4, data)
        immutable[si, i % 4] = data
    mutable: dict[StorageIndex, bytes] = {}
    we = os.urandom(32)
    for _ in range(6):
        si = new_si()
        content = bytearray()
        for _ in range(4):
            off = rng.randrange(0, len(content) + 2000)
            chunk = os.urandom(rng.randrange(1, 9000))
            await server.read_test_write(
                si,
                write_enabler=we,
                lease=lease_secrets(),
                vectors={0: m.TestWriteVectors(writes=(WriteVector(off, chunk),))},
                read_vector=[],
            )
            content.extend(bytes(max(0, off - len(content))))
            content[off : off + len(chunk)] = chunk
        mutable[si] = bytes(content)
    faults = sum(1 for r in proxy.requests if r.fault)
    assert faults > 5, faults
    # Every PUT (whole objects, multipart parts, mutable chunks, leases) carried a Content-MD5.
    puts = [r for r in proxy.requests if r.method == "PUT"]
    assert {r.operation for r in puts} >= {"PUT", "UPLOAD-PART"}
    assert all("content-md5" in r.headers for r in puts)
    # Downloads under faults too.
    for (si, n), data in immutable.items():
        assert await server.read_immutable(si, n, 0, len(data)) == data
    for si, stored in mutable.items():
        assert await server.read_mutable(si, 0, 0, len(stored) + 10) == stored
    proxy.fault_rate = 0
    assert [u async for u in mp.list_multipart_uploads(make_client(moto, bucket), "")] == []
    leftover = await server.backend.maintenance.collect_orphans(min_age=0)  # type: ignore[attr-defined]
    assert leftover == 0
    await server.stop()
    _ = list_all


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("window", [4 * MiB, 0])
async def test_read_ahead_windows(
    moto: MotoServer, proxied: tuple[FaultProxy, str, str], tmp_path: Path, window: int
) -> None:
    """Sequential small reads cost a GET per window; reads at the share's two ends
    (the stock client's blocks and hashes) keep a window each; a deleted share
    leaves none behind."""
    proxy, url, bucket = proxied
    server = server_on(moto, url, bucket, tmp_path, keys=KeyLayout("ra/"), read_ahead=window)
    await server.start()
    si = new_si()
    data = os.urandom(10 * MiB + 5)
    await upload_share(server, si, 0, data)
    proxy.clear()
    for off in range(0, len(data), MiB // 2):
        assert await server.read_immutable(si, 0, off, MiB // 2) == data[off : off + MiB // 2]
    pieces = -(-len(data) // (MiB // 2))
    assert proxy.counts() == {"GET": 3 if window else pieces}
    if window:
        assert [r.headers.get("range") for r in proxy.requests] == [
            f"bytes=0-{4 * MiB - 1}", f"bytes={4 * MiB}-{8 * MiB - 1}",
            f"bytes={len(data) - 4 * MiB}-{len(data) - 1}",  # the share's last window
        ]  # fmt: skip
    # Alternating between the start of another share and its end, read backwards.
    si2 = new_si()
    await upload_share(server, si2, 1, data)
    proxy.clear()
    for n in range(4):
        block = n * 40_000
        assert await server.read_immutable(si2, 1, block, 40_000) == data[block : block + 40_000]
        tail = len(data) - 3000 - 100 * n
        assert await server.read_immutable(si2, 1, tail, 100) == data[tail : tail + 100]
    assert proxy.counts() == {"GET": 2 if window else 8}
    # A read larger than the window is fetched as asked, and not kept.
    proxy.clear()
    assert await server.read_immutable(si2, 1, 0, 5 * MiB) == data[: 5 * MiB]
    assert [r.headers.get("range") for r in proxy.requests] == [f"bytes=0-{5 * MiB - 1}"]
    await server.stop()
