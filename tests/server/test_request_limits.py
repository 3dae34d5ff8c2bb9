"""The core's limits (``tahoe_cloud.server.limits``): uploads in progress, test-vector reads."""

from __future__ import annotations

import os

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.memory import MemoryBackend, MemoryMutableShare
from tahoe_cloud.errors import TooManyUploads, TooManyUploadsFromClient
from tahoe_cloud.http.errors import answer_for
from tahoe_cloud.server.limits import MAX_UPLOADS, MAX_UPLOADS_PER_CLIENT
from tahoe_cloud.server.messages import LeaseSecrets, TestVector, TestWriteVectors
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import StorageIndex, WriteVector

LEASE = LeaseSecrets(renew=b"r" * 32, cancel=b"c" * 32)
SECRET = b"u" * 20
ALL_SHARES = frozenset(range(256))


def si() -> StorageIndex:
    return StorageIndex(os.urandom(16))


def make() -> tuple[StorageServer, Clock]:
    clock = Clock()
    return StorageServer(MemoryBackend(), nodeid=b"n" * 20, clock=clock), clock


async def allocate(
    server: StorageServer, index: StorageIndex, shares: frozenset[int], client: str, size: int = 100
) -> frozenset[int]:
    result = await server.allocate_buckets(
        index,
        lease=LEASE,
        upload_secret=SECRET,
        share_numbers=shares,
        allocated_size=size,
        client=client,
    )
    return result.allocated


@pytest_twisted.ensureDeferred
async def test_uploads_in_progress_are_capped_per_client() -> None:
    server, _ = make()
    first = si()
    assert await allocate(server, first, ALL_SHARES, "10.0.0.1") == ALL_SHARES
    for _ in range(MAX_UPLOADS_PER_CLIENT // 256 - 1):
        assert await allocate(server, si(), ALL_SHARES, "10.0.0.1") == ALL_SHARES
    index = si()
    with pytest.raises(TooManyUploadsFromClient) as e:
        await allocate(server, index, frozenset({0}), "10.0.0.1")
    assert str(e.value) == (
        f"this client already has {MAX_UPLOADS_PER_CLIENT} uploads in progress"
        f" (at most {MAX_UPLOADS_PER_CLIENT}); finish or abort some first"
    )
    assert answer_for(e.value).code == 429
    assert not answer_for(e.value).unexpected
    # Refused whole: nothing of it was started.
    assert server.uploads.in_progress(index) == frozenset()
    # Another client is not held back, and an aborted upload frees a place.
    assert await allocate(server, si(), frozenset({0}), "10.0.0.2") == {0}
    await server.abort_immutable(first, 7, upload_secret=SECRET)
    assert await allocate(server, index, frozenset({0}), "10.0.0.1") == {0}
    await server.stop()


@pytest_twisted.ensureDeferred
async def test_uploads_in_progress_are_capped_per_server() -> None:
    assert MAX_UPLOADS_PER_CLIENT < MAX_UPLOADS
    server, clock = make()
    # Scaled down (twisted's test Clock schedules in quadratic time).
    server.uploads.max_uploads = 4 * 256
    server.uploads.max_uploads_per_client = 2 * 256
    clients = [f"10.0.0.{n}" for n in range(2)]
    for client in clients:
        for _ in range(2):
            await allocate(server, si(), ALL_SHARES, client)
    assert server.uploads.count() == 4 * 256
    with pytest.raises(TooManyUploads) as e:
        await allocate(server, si(), frozenset({0}), "10.1.1.1")
    assert not isinstance(e.value, TooManyUploadsFromClient)
    assert answer_for(e.value).code == 503
    assert "try again later" in str(e.value)
    # Idle uploads time out and make room again.
    clock.advance(30 * 60 + 1)
    assert server.uploads.count() == 0
    assert server.uploads.count(clients[0]) == 0
    assert await allocate(server, si(), frozenset({0}), "10.1.1.1") == {0}
    await server.stop()


@pytest_twisted.ensureDeferred
async def test_bytes_owed_are_a_running_total() -> None:
    server, _ = make()
    one, two = si(), si()
    await allocate(server, one, frozenset({0, 1}), "a", size=100)
    await allocate(server, two, frozenset({5}), "b", size=50)
    assert server.uploads.promised() == 250
    assert server.uploads.in_progress(one) == {0, 1}
    await server.write_immutable(one, 0, upload_secret=SECRET, offset=10, data=b"x" * 20)
    await server.write_immutable(one, 0, upload_secret=SECRET, offset=0, data=b"x" * 25)
    assert server.uploads.promised() == 250 - 30
    await server.write_immutable(one, 0, upload_secret=SECRET, offset=0, data=b"x" * 100)
    assert server.uploads.promised() == 150
    assert server.uploads.in_progress(one) == {1}
    await server.abort_immutable(one, 1, upload_secret=SECRET)
    assert server.uploads.promised() == 50
    assert server.uploads.in_progress(one) == frozenset()
    assert (server.uploads.count(), server.uploads.count("a"), server.uploads.count("b")) == (
        1,
        0,
        1,
    )
    await server.stop()
    assert server.uploads.promised() == 0
    assert server.uploads.count() == 0


@pytest_twisted.ensureDeferred
async def test_test_vectors_read_at_most_one_byte_past_the_specimen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = make()
    index = si()
    share = b"s" * 1000
    write = TestWriteVectors(writes=(WriteVector(0, share),))

    async def rtw(tests: tuple[TestVector, ...]) -> bool:
        result = await server.read_test_write(
            index,
            write_enabler=b"w" * 32,
            lease=LEASE,
            vectors={0: TestWriteVectors(tests=tests)},
            read_vector=[],
        )
        return result.success

    await server.read_test_write(
        index, write_enabler=b"w" * 32, lease=LEASE, vectors={0: write}, read_vector=[]
    )
    sizes: list[int] = []
    original = MemoryMutableShare.read

    async def read(self: MemoryMutableShare, offset: int, size: int) -> bytes:
        sizes.append(size)
        return await original(self, offset, size)

    monkeypatch.setattr(MemoryMutableShare, "read", read)
    huge = 2**64 - 1
    # Upstream's semantics are kept: the read is truncated at the end of the share.
    assert await rtw((TestVector(0, huge, share),))
    assert await rtw((TestVector(990, huge, b"s" * 10),))
    assert not await rtw((TestVector(0, huge, b"s" * 999),))
    assert not await rtw((TestVector(0, 5, b"s" * 6),))
    assert await rtw((TestVector(0, 3, b"sss"),))
    assert sizes and max(sizes) <= len(share) + 1
    assert sizes[:3] == [1001, 11, 1000]
