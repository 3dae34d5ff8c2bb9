"""The listing cache: its rules alone, then on S3 (publish, delete, restart, a second writer)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3.backend import S3Backend
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.objects import delete_object
from tahoe_cloud.backends.s3.sharecache import MUTABLE, ShareCache
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import run
from tahoe_cloud.testing.support import NODEID, START_TIME, lease_secrets, new_si, upload_share
from tahoe_cloud.vocabulary import ShareKind, WriteVector
from tests.s3.conftest import S3Service, make_client, new_bucket_name
from tests.s3.makers import make_backend

# --- the rules, without S3 -----------------------------------------------------


def test_positive_and_negative_entries() -> None:
    cache = ShareCache(10)
    a, b, c = new_si(), new_si(), new_si()
    assert cache.listing(a) is None and cache.immutable_size(a, 0) is None
    assert cache.store(a, {}, cache.stamp())
    assert cache.listing(a) == {} and cache.immutable_size(a, 0) == -1
    assert cache.store(b, {3: 100, 7: MUTABLE}, cache.stamp())
    assert cache.listing(b) == {3: ShareKind.IMMUTABLE, 7: ShareKind.MUTABLE}
    assert cache.immutable_size(b, 3) == 100
    assert cache.immutable_size(b, 7) == -1  # a mutable share is no immutable one
    assert cache.immutable_size(b, 4) == -1
    assert cache.listing(c) is None


def test_changes_update_known_entries_only() -> None:
    cache = ShareCache(10)
    a, b = new_si(), new_si()
    cache.store(a, {}, cache.stamp())
    cache.changing(a)
    assert cache.listing(a) == {}  # until the change ends, the old answer stands
    cache.changed(a, 2, 50)
    assert cache.listing(a) == {2: ShareKind.IMMUTABLE} and cache.immutable_size(a, 2) == 50
    cache.changed(a, 0, MUTABLE)
    cache.changed(a, 2, None)
    assert cache.listing(a) == {0: ShareKind.MUTABLE}
    cache.changed(b, 1, 10)  # not known: stays unknown (a partial listing is never made)
    assert cache.listing(b) is None
    cache.forget(a)
    assert cache.listing(a) is None


def test_a_list_answer_older_than_a_change_is_not_stored() -> None:
    cache = ShareCache(10)
    a, b = new_si(), new_si()
    # A LIST sent before a publish began, answered after it: not stored.
    stamp = cache.stamp()
    cache.changing(a)
    assert not cache.store(a, {}, stamp)
    # Sent after the publish began, answered after it ended: not stored either.
    stamp = cache.stamp()
    cache.changed(a, 0, 5)
    assert not cache.store(a, {}, stamp)
    # Answered while the change was in progress: stored, then the change's end applies.
    cache.changing(a)
    assert cache.store(a, {}, cache.stamp())
    cache.changed(a, 0, 5)
    assert cache.listing(a) == {0: ShareKind.IMMUTABLE}
    # Changes elsewhere do not matter.
    stamp = cache.stamp()
    cache.changing(a)
    assert cache.store(b, {1: 1}, stamp)


def test_forgotten_change_stamps_stay_conservative() -> None:
    cache = ShareCache(10, stamp_limit=2)
    a = new_si()
    stamp = cache.stamp()
    cache.changing(a)
    for _ in range(3):
        cache.changing(new_si())  # pushes a's stamp out
    assert not cache.store(a, {}, stamp)
    assert cache.store(a, {}, cache.stamp())


def test_lru_budget() -> None:
    cache = ShareCache(4)
    sis = [new_si() for _ in range(5)]
    for si in sis[:4]:
        cache.store(si, {}, cache.stamp())
    assert cache.listing(sis[0]) == {}  # used: now the most recent
    cache.store(sis[4], {}, cache.stamp())
    assert len(cache) == 4 and cache.listing(sis[1]) is None
    assert all(cache.listing(si) is not None for si in (sis[0], sis[2], sis[3], sis[4]))
    # A storage index counts as its number of shares: three shares push out three others.
    cache.store(sis[1], {0: 1, 1: 1, 2: 1}, cache.stamp())
    assert cache.weight == 4 and len(cache) == 2
    assert cache.listing(sis[4]) == {}
    cache.changed(sis[1], 3, 1)  # grows to 4 shares: the rest goes
    assert len(cache) == 1 and cache.weight == 4
    cache.clear()
    assert len(cache) == 0 and cache.weight == 0


def test_the_default_budget_stays_small() -> None:
    """About 0.25 KiB per budget unit whatever the entries hold (docs/s3.md: ~24 MiB at 100,000)."""
    import tracemalloc

    from tahoe_cloud.vocabulary import StorageIndex

    n = 10_000
    raws = [os.urandom(16) for _ in range(n)]
    cache = ShareCache(n)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, raw in enumerate(raws):
            si = StorageIndex(bytes(bytearray(raw)))
            cache.store(si, {i % 10: 337_430 + i}, cache.stamp())
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used / n < 300, used / n


# --- on S3 -----------------------------------------------------------------------

pytestmark = pytest.mark.s3


class Node:
    def __init__(self, service: S3Service, bucket: str, tmp: Path, **kw: object) -> None:
        clock = Clock()
        clock.advance(START_TIME)
        self.client: S3Client = make_client(service, bucket)
        self.backend: S3Backend = make_backend(self.client, tmp, keys=KeyLayout("c/"), **kw)
        self.server = StorageServer(self.backend, nodeid=NODEID, clock=clock)

    def counts(self) -> dict[str, int]:
        counts = dict(self.client.request_counts)
        self.client.request_counts.clear()
        return counts


@pytest.fixture
def bucket(service: S3Service) -> str:
    name = new_bucket_name()
    c = make_client(service, name)
    run(c.create_bucket())
    run(c.close())
    return name


@pytest.fixture
def node(service: S3Service, bucket: str, tmp_path: Path) -> Iterator[Node]:
    n = Node(service, bucket, tmp_path / "a")
    run(n.server.start())
    n.counts()
    yield n
    run(n.server.stop())


@pytest_twisted.ensureDeferred
async def test_publish_updates_a_negative_entry(node: Node) -> None:
    si = new_si()
    assert await node.server.list_immutable_shares(si) == frozenset()
    assert node.counts() == {"ListObjectsV2": 1}
    await upload_share(node.server, si, 3, b"abc")  # its allocate: no second LIST
    assert node.counts() == {"PutObject": 2}
    # The publish updated the entry before the upload's answer: no LIST, and the size is known.
    assert await node.server.list_immutable_shares(si) == {3}
    assert await node.server.read_immutable(si, 3, 0, 10) == b"abc"
    assert await node.server.read_immutable(si, 3, 3, 10) == b""  # past the end: no request
    assert node.counts() == {"GetObject": 1}
    with pytest.raises(ShareNotFound):  # known absent: no request
        await node.server.read_immutable(si, 4, 0, 10)
    assert node.counts() == {}


@pytest_twisted.ensureDeferred
async def test_mutable_create_and_delete_update_the_entry(node: Node) -> None:
    si, we = new_si(), os.urandom(32)

    async def rtw(vectors: m.TestWriteVectors) -> None:
        result = await node.server.read_test_write(
            si, write_enabler=we, lease=lease_secrets(), vectors={1: vectors}, read_vector=[]
        )
        assert result.success

    await rtw(m.TestWriteVectors(writes=(WriteVector(0, b"x" * 100),)))
    node.counts()
    assert await node.server.list_mutable_shares(si) == {1}
    assert await node.server.list_immutable_shares(si) == frozenset()
    assert node.counts() == {}
    await rtw(m.TestWriteVectors(new_length=0))  # deletes the share
    node.counts()
    assert await node.server.list_mutable_shares(si) == frozenset()
    assert node.counts() == {}
    # And the bucket agrees.
    node.backend.store.listings.clear()
    assert await node.server.list_mutable_shares(si) == frozenset()


@pytest_twisted.ensureDeferred
async def test_restart_lists_once_then_caches(
    service: S3Service, bucket: str, tmp_path: Path, node: Node
) -> None:
    si = new_si()
    await upload_share(node.server, si, 0, b"data" * 100)
    await node.server.stop()
    again = Node(service, bucket, tmp_path / "b")
    await again.server.start()
    again.counts()
    assert await again.server.list_immutable_shares(si) == {0}
    assert await again.server.list_immutable_shares(si) == {0}
    assert again.counts() == {"ListObjectsV2": 1}
    await again.server.stop()
    await node.server.start()  # the fixture stops it


@pytest_twisted.ensureDeferred
async def test_a_share_gone_behind_our_back_is_listed_again(node: Node) -> None:
    """What a second process writing the same prefix despite the marker would cause."""
    si = new_si()
    await upload_share(node.server, si, 0, b"gone soon")
    await delete_object(node.client, node.backend.keys.immutable(si, 0))  # "another writer"
    node.counts()
    assert await node.server.list_immutable_shares(si) == {0}  # stale: the cache cannot know
    with pytest.raises(ShareNotFound):
        await node.server.read_immutable(si, 0, 0, 5)  # the GET finds it gone: entry dropped
    assert await node.server.list_immutable_shares(si) == frozenset()
    assert node.counts() == {"GetObject": 1, "ListObjectsV2": 1}


@pytest_twisted.ensureDeferred
async def test_a_failed_publish_forgets_the_entry(node: Node) -> None:
    si = new_si()
    async with node.backend.shareset(si) as shareset:
        assert await shareset.list_shares() == {}
        upload = await shareset.start_immutable_upload(0, 4)
        await upload.write(0, b"abcd")

        async def broken(*_args: object, **_kw: object) -> None:
            raise BackendError("S3 went away")

        upload._put_single = broken  # type: ignore[method-assign]
        with pytest.raises(BackendError):
            await upload.publish([])
        await upload.abort()
    assert node.backend.store.listings.listing(si) is None  # outcome unknown: list again next time
    node.counts()
    assert await node.server.list_immutable_shares(si) == frozenset()
    assert node.counts() == {"ListObjectsV2": 1}


@pytest_twisted.ensureDeferred
async def test_unlisted_share_read_needs_no_head(
    service: S3Service, bucket: str, tmp_path: Path, node: Node
) -> None:
    si = new_si()
    await upload_share(node.server, si, 2, b"0123456789")
    fresh = Node(service, bucket, tmp_path / "fresh")  # an empty cache, no start: no marker traffic
    async with fresh.backend.shareset(si) as share_set:
        share = await share_set.open_immutable(2)
        assert fresh.counts() == {}
        assert await share.read(4, 100) == b"456789"
        assert await share.read(10, 5) == b""  # size learnt from the Content-Range: no request
        assert fresh.counts() == {"GetObject": 1}
        assert await share.size() == 10
        missing = await share_set.open_immutable(3)
        with pytest.raises(ShareNotFound):
            await missing.read(0, 10)
        empty = await share_set.open_immutable(4)
        with pytest.raises(ShareNotFound):
            await empty.read(0, 0)  # a read of nothing still checks (one HEAD)
        assert fresh.counts() == {"GetObject": 1, "HeadObject": 1}
    await fresh.client.close()
