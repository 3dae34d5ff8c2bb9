"""The cloud.s3 backend on moto and in memory: layout, crash safety, budgets, marker, quota."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3 import spool
from tahoe_cloud.backends.s3.backend import S3Backend
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.objects import put_object
from tahoe_cloud.backends.s3.space import UNLIMITED_SPACE
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.messages import ReadVector
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import run
from tahoe_cloud.testing.support import (
    NODEID,
    START_TIME,
    lease_secrets,
    new_si,
    start_clock,
    upload_share,
    write_enabler,
)
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex, WriteVector
from tests.s3.conftest import S3Service, make_client
from tests.s3.makers import make_backend
from tests.support.s3 import new_bucket

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(service: S3Service) -> str:
    return run(new_bucket(service))


@pytest.fixture
def clock() -> Clock:
    return start_clock()


class Node:
    """A backend + server on a bucket, with the client's request counter at hand."""

    def __init__(
        self, service: S3Service, bucket: str, tmp: Path, clock: Clock, **kw: object
    ) -> None:
        self.client: S3Client = make_client(service, bucket)
        self.backend: S3Backend = make_backend(self.client, tmp, **kw)
        self.server = StorageServer(self.backend, nodeid=NODEID, clock=clock)

    def counts(self) -> dict[str, int]:
        return dict(self.client.request_counts)

    def reset(self) -> None:
        self.client.request_counts.clear()


@pytest.fixture
def node(service: S3Service, bucket: str, tmp_path: Path, clock: Clock) -> Iterator[Node]:
    n = Node(service, bucket, tmp_path / "a", clock, keys=KeyLayout("p/"))
    run(n.server.start())
    yield n
    run(n.server.stop())


async def rtw(
    node: Node,
    si: StorageIndex,
    we: bytes,
    shnum: int,
    *writes: tuple[int, bytes],
    new_length: int | None = None,
) -> m.ReadTestWriteResult:
    return await node.server.read_test_write(
        si,
        write_enabler=we,
        lease=lease_secrets(),
        vectors={
            shnum: m.TestWriteVectors(
                writes=tuple(WriteVector(o, d) for o, d in writes), new_length=new_length
            )
        },
        read_vector=[],
    )


@pytest_twisted.ensureDeferred
async def test_key_layout_and_exact_share_numbers(node: Node) -> None:
    si = new_si()
    for n in (1, 10, 11, 19):
        await upload_share(node.server, si, n, bytes([n]) * 100)
    keys = [o.key for o in (await list_all(node.client, "p/shares/"))]
    assert keys == [f"p/shares/{si.prefix}/{si.text}/{n}" for n in ("1", "10", "11", "19")]
    # A foreign object beside them is ignored, not misread as a share.
    await put_object(node.client, f"p/shares/{si.prefix}/{si.text}/01", b"x")
    node.backend.store.listings.clear()  # as after a restart: list the bucket again
    assert (await node.server.list_immutable_shares(si)) == {1, 10, 11, 19}
    async with node.backend.shareset(si) as share_set:
        await share_set.delete_share(1)
    assert (await node.server.list_immutable_shares(si)) == {10, 11, 19}
    assert (await node.server.read_immutable(si, 10, 0, 5)) == b"\x0a" * 5
    leases = await node.server.get_leases(si)
    assert sorted(leases) == [10, 11, 19]


@pytest_twisted.ensureDeferred
async def test_request_budgets(node: Node) -> None:
    si = new_si()
    data = os.urandom(3 * 1024 * 1024)
    node.reset()
    secret = os.urandom(20)
    (
        await node.server.allocate_buckets(
            si,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({0, 1}),
            allocated_size=len(data),
        )
    )
    assert node.counts() == {"ListObjectsV2": 1}  # allocate for a new SI: one LIST, nothing else
    node.reset()
    for off in range(0, len(data), 1024 * 1024):
        (
            await node.server.write_immutable(
                si, 0, upload_secret=secret, offset=off, data=data[off : off + 1024 * 1024]
            )
        )
    # Writes are spooled; publish = lease PUT (create-only: the allocate's
    # listing was empty, so no GET) + share PUT.
    assert node.counts() == {"PutObject": 2}
    await node.server.abort_immutable(si, 1, upload_secret=secret)
    # The client learns the shares (from the listing cache, which the publish
    # updated: no LIST), then reads: 1 MiB range = 1 GET, no LIST, no HEAD.
    node.reset()
    assert (await node.server.list_immutable_shares(si)) == {0}
    assert node.counts() == {}
    assert (await node.server.read_immutable(si, 0, 1024 * 1024, 1024 * 1024)) == data[
        1024 * 1024 : 2 * 1024 * 1024
    ]
    assert node.counts() == {"GetObject": 1}
    node.reset()
    assert (await node.server.read_immutable(si, 0, len(data) + 10, 100)) == b""
    assert node.counts() == {}  # past the end: known from the listing, no request at all
    # Lease renewal: GET + PUT of the lease object, whatever the number of shares.
    node.reset()
    await node.server.add_or_renew_lease(si, lease_secrets())
    assert node.counts() == {"GetObject": 1, "PutObject": 1}
    # Allocate when the share exists: its lease renewed, no LIST.
    node.reset()
    await node.server.allocate_buckets(
        si,
        lease=lease_secrets(),
        upload_secret=secret,
        share_numbers=frozenset({0}),
        allocated_size=len(data),
    )
    assert node.counts() == {"GetObject": 1, "PutObject": 1}
    # A corruption advisory: the share's existence is known, one PUT.
    node.reset()
    await node.server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 0, b"bad")
    assert node.counts() == {"PutObject": 1}


@pytest_twisted.ensureDeferred
async def test_a_leftover_lease_object_is_read_and_kept(node: Node) -> None:
    """A lease object without shares (a crash mid-publish) refuses the create-only PUT."""
    si = new_si()
    # A lease object for share 5, as a crash after its lease write would leave.
    orphan = Lease(
        owner_num=0,
        renew_secret=os.urandom(32),
        cancel_secret=os.urandom(32),
        expiration=START_TIME + 1000,
        nodeid=NODEID,
    )
    async with node.backend.shareset(si) as share_set:
        await share_set.set_leases_of(5, [orphan])
    node.reset()
    await upload_share(node.server, si, 0, b"y" * 100)
    counts = node.counts()
    assert counts["PutObject"] == 3 and counts["GetObject"] >= 1  # 412, read, redone, share
    leases = await node.server.get_leases(si)
    assert sorted(leases) == [0] and len(leases[0]) == 1
    # The leftover entries are still there for collect_orphans, not silently lost.
    async with node.backend.shareset(si) as share_set:
        stored = await share_set._load_leases()
    assert sorted(stored[1]) == [0, 5]


@pytest_twisted.ensureDeferred
async def test_upload_invisible_until_published_and_abort_leaves_nothing(node: Node) -> None:
    si = new_si()
    secret = os.urandom(20)
    (
        await node.server.allocate_buckets(
            si,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({3}),
            allocated_size=10,
        )
    )
    await node.server.write_immutable(si, 3, upload_secret=secret, offset=0, data=b"01234")
    assert (await list_all(node.client, "")) != []  # only the marker
    assert [o.key for o in (await list_all(node.client, "p/shares/"))] == []
    await node.server.abort_immutable(si, 3, upload_secret=secret)
    assert [o.key for o in (await list_all(node.client, "p/"))] == ["p/tahoe-cloud-node"]
    assert list((node.backend.spool_dir).iterdir()) == []


@pytest_twisted.ensureDeferred
async def test_multipart_publish(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    n = Node(
        service,
        bucket,
        tmp_path,
        clock,
        multipart_threshold=6 * 1024 * 1024,
        part_size=mp.MIN_PART_SIZE,
    )
    await n.server.start()
    si = new_si()
    data = os.urandom(12 * 1024 * 1024 + 17)
    await upload_share(n.server, si, 0, data)
    assert n.counts()["UploadPart"] == 3 and n.counts()["CompleteMultipartUpload"] == 1
    assert (await n.server.read_immutable(si, 0, 5 * 1024 * 1024 - 5, 10)) == data[
        5 * 1024 * 1024 - 5 : 5 * 1024 * 1024 + 5
    ]
    assert (await n.server.read_immutable(si, 0, 0, len(data) + 5)) == data
    pending = await _pending(n.client)
    assert pending == []
    await n.server.stop()


async def _pending(client: S3Client) -> list[mp.PendingUpload]:
    return [u async for u in mp.list_multipart_uploads(client, "")]


@pytest_twisted.ensureDeferred
async def test_failed_multipart_is_aborted(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    n = Node(
        service,
        bucket,
        tmp_path,
        clock,
        multipart_threshold=6 * 1024 * 1024,
        part_size=mp.MIN_PART_SIZE,
    )
    await n.server.start()
    original = mp.upload_part
    calls = []

    async def failing(client, key, upload_id, number, body, **kw):
        calls.append(number)
        if number == 2:
            from tahoe_cloud.backends.s3.objectstore.errors import S3Error

            raise S3Error("UploadPart", 400, "BadDigest")
        return await original(client, key, upload_id, number, body, **kw)

    mp.upload_part = failing  # type: ignore[assignment]
    try:
        si = new_si()
        with pytest.raises(BackendError):
            await upload_share(n.server, si, 0, os.urandom(11 * 1024 * 1024))
    finally:
        mp.upload_part = original
    assert (await _pending(n.client)) == []
    assert (await n.server.list_immutable_shares(si)) == frozenset()
    await n.server.stop()


@pytest_twisted.ensureDeferred
async def test_mutable_chunked_matches_model(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    n = Node(service, bucket, tmp_path, clock, inline_limit=100, chunk_size=64)
    await n.server.start()
    si, we = new_si(), write_enabler()
    model = bytearray()
    rng = __import__("random").Random(7)
    for step in range(40):
        offset = rng.randrange(0, len(model) + 150)
        data = os.urandom(rng.randrange(1, 200))
        new_length = rng.choice([None, None, None, rng.randrange(1, 500)])
        await rtw(n, si, we, 0, (offset, data), new_length=new_length)
        if offset > len(model):
            model.extend(bytes(offset - len(model)))
        model[offset : offset + len(data)] = data
        if new_length is not None and new_length < len(model):
            del model[new_length:]
        assert (await n.server.read_mutable(si, 0, 0, 10_000)) == bytes(model), step
        assert (await n.server.read_mutable(si, 0, 30, 70)) == bytes(model[30:100])
    # No garbage: every chunk object is referenced by the head.
    assert (await n.backend.maintenance.collect_orphans(min_age=0)) == 0
    # A fresh server (empty caches) reads the same bytes.
    n2 = Node(service, bucket, tmp_path / "2", clock)
    await n2.server.start()
    assert (await n2.server.read_mutable(si, 0, 0, 10_000)) == bytes(model)
    await n2.server.stop()
    await n.server.stop()


@pytest_twisted.ensureDeferred
async def test_small_write_to_large_mutable_share_costs_one_chunk(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    n = Node(service, bucket, tmp_path, clock)  # defaults: 1 MiB chunks
    await n.server.start()
    si, we = new_si(), write_enabler()
    big = os.urandom(8 * 1024 * 1024)
    await rtw(n, si, we, 0, (0, big))
    n.reset()
    await rtw(n, si, we, 0, (5 * 1024 * 1024 + 10, b"hello"))
    # GET of the old chunk, PUT new chunk, PUT head, DELETE old chunk, GET+PUT
    # lease object (the core's listing is cached): 6 requests, 2 MiB moved instead of 16 MiB.
    assert n.counts() == {
        "GetObject": 2,
        "PutObject": 3,
        "DeleteObject": 1,
    }
    expected = bytearray(big)
    expected[5 * 1024 * 1024 + 10 : 5 * 1024 * 1024 + 15] = b"hello"
    assert (await n.server.read_mutable(si, 0, 0, len(big))) == bytes(expected)
    await n.server.stop()


@pytest_twisted.ensureDeferred
async def test_conditional_write_refuses_a_stale_writer(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    a = Node(service, bucket, tmp_path / "a", clock, inline_limit=10, chunk_size=16)
    b = Node(
        service, bucket, tmp_path / "b", clock, override_marker=True, inline_limit=10, chunk_size=16
    )
    await a.server.start()
    si, we = new_si(), write_enabler()
    await rtw(a, si, we, 0, (0, b"A" * 40))
    await b.server.start()  # takes the marker over (second process on the same bucket)
    assert (await b.server.read_mutable(si, 0, 0, 100)) == b"A" * 40
    await rtw(a, si, we, 0, (0, b"B" * 40))
    # b's cached head is stale: its write must fail, not clobber a's.
    with pytest.raises(BackendError):
        await rtw(b, si, we, 0, (0, b"C" * 5))
    assert (await a.server.read_mutable(si, 0, 0, 100)) == b"B" * 40
    # Having failed, b re-reads and then succeeds.
    await rtw(b, si, we, 0, (0, b"C" * 5))
    async with a.backend.shareset(si) as share_set:
        assert (await share_set.open_mutable(0)) is not None
    await a.server.stop()
    await b.server.stop()


@pytest_twisted.ensureDeferred
async def test_marker_refuses_another_node(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    a = Node(service, bucket, tmp_path / "a", clock, node_id="node-a")
    await a.server.start()
    b = Node(service, bucket, tmp_path / "b", clock, node_id="node-b")
    with pytest.raises(BackendError, match="belongs to another storage server"):
        await b.backend.start()
    # A different prefix in the same bucket is fine.
    c = Node(service, bucket, tmp_path / "c", clock, node_id="node-c", keys=KeyLayout("other/"))
    await c.server.start()
    # Restarting the owner is fine.
    a2 = Node(service, bucket, tmp_path / "a2", clock, node_id="node-a")
    await a2.backend.start()
    for x in (a, c):
        await x.server.stop()
    await a2.backend.stop()
    await b.backend.stop()


@pytest_twisted.ensureDeferred
async def test_quota_and_space(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    n = Node(service, bucket, tmp_path, clock)
    await n.server.start()
    # No quota: what the spool's file system can still take (allocations pass through it).
    free = spool.free_space(n.backend.spool_dir)
    assert abs((await n.backend.available_space()) - free) < 256 * 1024 * 1024
    assert free < UNLIMITED_SPACE
    await upload_share(n.server, new_si(), 0, b"x" * 1000)
    await n.server.stop()
    q = Node(service, bucket, tmp_path / "q", clock, quota=10_000)
    await q.server.start()
    assert (await q.backend.available_space()) == 9000
    await upload_share(q.server, new_si(), 0, b"y" * 500)
    assert (await q.backend.available_space()) == 8500
    version = await q.server.get_version()
    assert version.available_space == 8500
    await q.server.stop()


@pytest_twisted.ensureDeferred
async def test_leases_survive_losing_the_server_disk(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    a = Node(service, bucket, tmp_path / "a", clock)
    await a.server.start()
    si = new_si()
    secrets = lease_secrets()
    await upload_share(a.server, si, 2, b"z" * 10, lease=secrets)
    before = await a.server.get_leases(si)
    await a.server.stop()
    b = Node(service, bucket, tmp_path / "elsewhere", clock)
    await b.server.start()
    after = await b.server.get_leases(si)
    assert [(x.expiration, x.hashed) for x in after[2]] == [
        (x.expiration, x.hashed) for x in before[2]
    ]
    assert after[2][0].renew_secret_matches(secrets.renew)
    await b.server.stop()


@pytest_twisted.ensureDeferred
async def test_orphans_are_cleaned(
    service: S3Service, bucket: str, tmp_path: Path, clock: Clock
) -> None:
    a = Node(service, bucket, tmp_path / "a", clock, inline_limit=10, chunk_size=16)
    await a.server.start()
    si, we = new_si(), write_enabler()
    await rtw(a, si, we, 0, (0, b"q" * 40))
    keys = a.backend.keys
    # What a crash leaves: a multipart upload never completed, a chunk never committed.
    await mp.create_multipart_upload(a.client, keys.immutable(new_si(), 0))
    await put_object(a.client, keys.chunk(si, 0, 0, "deadbeef0000"), b"x" * 16)
    assert (await a.backend.maintenance.collect_orphans(min_age=0)) == 1
    # Two more leftovers, removed by the next start with s3.clean_at_start.
    await put_object(a.client, keys.chunk(si, 0, 1, "deadbeef0001"), b"y" * 16)
    await put_object(a.client, keys.leases(new_si()), b"not even CBOR")
    await a.server.stop()
    b = Node(service, bucket, tmp_path / "b", clock, clean_at_start=True)
    await b.server.start()
    names = [o.key for o in await list_all(b.client, "")]
    assert not any("deadbeef" in k for k in names)
    assert [k for k in names if k.startswith("leases/")] == [keys.leases(si)]
    assert (await _pending(b.client)) == []
    assert (await b.server.read_mutable(si, 0, 0, 100)) == b"q" * 40
    await b.server.stop()


@pytest_twisted.ensureDeferred
async def test_advisory_and_missing_share(node: Node) -> None:
    si = new_si()
    await upload_share(node.server, si, 4, b"data")
    await node.server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 4, b"bad hash")
    advisories = await list_all(node.client, "p/corruption-advisories/")
    assert len(advisories) == 1 and advisories[0].key.endswith(f"--{si.text}-4")
    with pytest.raises(ShareNotFound):
        async with node.backend.shareset(si) as share_set:
            await share_set.open_immutable(5)
    with pytest.raises(ShareNotFound):
        async with node.backend.shareset(si) as share_set:
            await share_set.open_mutable(4)
    _ = ReadVector


@pytest_twisted.ensureDeferred
async def test_lease_object_is_bounded(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many shares with many leases: the one lease object stops growing at its bound."""
    from tahoe_cloud.backends.s3 import shareset as s3_shareset
    from tahoe_cloud.errors import TooManyLeases
    from tahoe_cloud.server.messages import LeaseSecrets

    monkeypatch.setattr(s3_shareset, "MAX_LEASES_PER_OBJECT", 7)
    si = new_si()
    first = LeaseSecrets(b"f" * 32, b"c" * 32)
    for shnum in range(3):
        await upload_share(node.server, si, shnum, b"y" * 10, lease=first)
    # One lease per share now (3); a second and third secret make 6 and 9.
    await node.server.add_or_renew_lease(si, LeaseSecrets(b"a" * 32, b"c" * 32))
    with pytest.raises(TooManyLeases):
        await node.server.add_or_renew_lease(si, LeaseSecrets(b"b" * 32, b"c" * 32))
    assert sum(map(len, (await node.server.get_leases(si)).values())) == 6
    await node.server.add_or_renew_lease(si, LeaseSecrets(b"a" * 32, b"c" * 32))
