"""Core behaviour best checked with the memory backend's insides in view.

Space accounting, lifecycle, concurrency of writes, failure of publication,
and that secrets never show in errors or reprs.
"""

from __future__ import annotations

import os

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.errors import BackendError, ConflictingWrite, WrongUploadSecret
from tahoe_cloud.server.messages import LeaseSecrets
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import StorageIndex

NODEID = b"\x02" * 20
SECRET = b"upload-secret-value!"
LEASE = LeaseSecrets(renew=b"r" * 32, cancel=b"c" * 32)


def si() -> StorageIndex:
    return StorageIndex(os.urandom(16))


def make(backend: MemoryBackend, **kwargs: object) -> tuple[StorageServer, Clock]:
    clock = Clock()
    return StorageServer(backend, nodeid=NODEID, clock=clock, **kwargs), clock  # type: ignore[arg-type]


async def allocate(
    server: StorageServer, index: StorageIndex, shnums: set[int], size: int
) -> set[int]:
    result = await server.allocate_buckets(
        index,
        lease=LEASE,
        upload_secret=SECRET,
        share_numbers=frozenset(shnums),
        allocated_size=size,
    )
    return set(result.allocated)


@pytest_twisted.ensureDeferred
async def test_space_counts_bytes_promised_to_uploads() -> None:
    backend = MemoryBackend(capacity=100)
    server, _ = make(backend)
    index = si()
    assert await allocate(server, index, {0, 1, 2}, 40) == {0, 1}
    assert (await server.get_version()).available_space == 20
    # Received bytes move from "promised" to the backend's own usage: no double count.
    await server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"x" * 20)
    assert (await server.get_version()).available_space == 20
    assert await allocate(server, si(), {0}, 21) == set()
    assert await allocate(server, si(), {0}, 20) == {0}
    assert (await server.get_version()).available_space == 0
    await server.abort_immutable(index, 0, upload_secret=SECRET)
    assert (await server.get_version()).available_space == 40


@pytest_twisted.ensureDeferred
async def test_start_and_stop_reach_the_backend() -> None:
    backend = MemoryBackend()
    server, clock = make(backend)
    await server.start()
    assert backend.started
    index = si()
    await allocate(server, index, {0, 1}, 10)
    await server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"12345")
    assert len(backend.staged) == 2
    await server.stop()
    assert backend.stopped
    assert backend.staged == {}
    assert clock.getDelayedCalls() == []


@pytest_twisted.ensureDeferred
async def test_timeout_discards_staged_bytes() -> None:
    backend = MemoryBackend()
    server, clock = make(backend, upload_timeout=60)
    index = si()
    await allocate(server, index, {0}, 10)
    clock.advance(59)
    await server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"1")
    clock.advance(59)
    assert backend.staged != {}
    clock.advance(1)
    assert backend.staged == {}
    assert server.uploads.promised() == 0


@pytest_twisted.ensureDeferred
async def test_concurrent_writes_to_one_upload_are_serialised() -> None:
    backend = MemoryBackend()
    server, _ = make(backend)
    index = si()
    await allocate(server, index, {0}, 4)
    upload = server.uploads._uploads[index, 0]
    real_write = upload.handle.write
    gate: Deferred[None] = Deferred()

    async def slow_write(offset: int, data: bytes) -> None:
        await gate
        await real_write(offset, data)

    upload.handle.write = slow_write  # type: ignore[method-assign]
    first = Deferred.fromCoroutine(
        server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"ab")
    )
    # The second write overlaps with different bytes; it must see the first one's
    # bytes (and be refused) rather than race it.
    second = Deferred.fromCoroutine(
        server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"xy")
    )
    gate.callback(None)
    assert not (await first).complete
    with pytest.raises(ConflictingWrite):
        await second
    assert (
        await server.write_immutable(index, 0, upload_secret=SECRET, offset=2, data=b"cd")
    ).complete
    assert await server.read_immutable(index, 0, 0, 4) == b"abcd"


@pytest_twisted.ensureDeferred
async def test_failed_publish_can_be_retried() -> None:
    backend = MemoryBackend()
    server, _ = make(backend)
    index = si()
    await allocate(server, index, {0}, 3)
    upload = server.uploads._uploads[index, 0]
    real_publish = upload.handle.publish
    failures = [BackendError("disk full")]

    async def flaky_publish(leases: object) -> None:
        if failures:
            raise failures.pop()
        await real_publish(leases)  # type: ignore[arg-type]

    upload.handle.publish = flaky_publish  # type: ignore[method-assign]
    with pytest.raises(BackendError):
        await server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"abc")
    assert await server.list_immutable_shares(index) == frozenset()
    assert (
        await server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"abc")
    ).complete
    assert await server.read_immutable(index, 0, 0, 3) == b"abc"


@pytest_twisted.ensureDeferred
async def test_secrets_never_in_reprs_or_errors() -> None:
    backend = MemoryBackend()
    server, _ = make(backend)
    index = si()
    await allocate(server, index, {0}, 3)
    texts = [repr(server.uploads._uploads[index, 0]), repr(LEASE)]
    for call in (
        server.write_immutable(index, 0, upload_secret=b"wrong", offset=0, data=b"a"),
        server.abort_immutable(index, 0, upload_secret=b"wrong"),
    ):
        try:
            await call
        except WrongUploadSecret as e:
            texts.append(str(e))
            texts.append(repr(e))
    assert len(texts) == 6
    await server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=b"abc")
    texts.extend(repr(x) for ls in (await server.get_leases(index)).values() for x in ls)
    for text in texts:
        assert SECRET.decode() not in text
        assert "rrrr" not in text and "cccc" not in text


@pytest_twisted.ensureDeferred
async def test_memory_backend_copies_and_hashes() -> None:
    backend = MemoryBackend()
    server, _ = make(backend)
    index = si()
    data = bytearray(b"abc")
    await allocate(server, index, {0}, 3)
    await server.write_immutable(index, 0, upload_secret=SECRET, offset=0, data=bytes(data))
    data[0] = ord("z")
    assert await server.read_immutable(index, 0, 0, 3) == b"abc"
    leases = await server.get_leases(index)
    assert leases[0][0].hashed  # stored hashed, like upstream's v2 containers
    assert leases[0][0].renew_secret_matches(LEASE.renew)


def test_memory_entry_point() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="tahoe_cloud.backends") if e.name == "memory"]
    backend = ep.load()(None)
    assert isinstance(backend, MemoryBackend)


@pytest_twisted.ensureDeferred
async def test_stop_survives_a_failing_abort() -> None:
    backend = MemoryBackend()
    server, _ = make(backend)
    await server.start()
    index = si()
    await allocate(server, index, {0, 1}, 10)
    broken = server.uploads._uploads[index, 0]

    async def failing_abort() -> None:
        raise BackendError("cannot delete")

    broken.handle.abort = failing_abort  # type: ignore[method-assign]
    await server.stop()
    assert backend.stopped
    assert server.uploads.promised() == 0
    assert list(backend.staged) == [(index, 0)]  # only the one whose abort failed


@pytest_twisted.ensureDeferred
async def test_mutable_share_size_is_the_smaller_of_server_and_backend_caps() -> None:
    """Never advertise a mutable share larger than a read-test-write request may carry."""
    from tahoe_cloud.http.body import READ_TEST_WRITE_OVERHEAD, Limits
    from tahoe_cloud.server.server import DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE

    roomy, _ = make(MemoryBackend(maximum_mutable_share_size=2**50))
    assert roomy.maximum_mutable_share_size == DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE
    assert (await roomy.get_version()).maximum_mutable_share_size == (
        DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE
    )
    limits = Limits.for_server(roomy.maximum_mutable_share_size)
    assert limits.read_test_write == DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE + READ_TEST_WRITE_OVERHEAD
    tight, _ = make(MemoryBackend(maximum_mutable_share_size=1000))
    assert tight.maximum_mutable_share_size == 1000
    configured, _ = make(MemoryBackend(), maximum_mutable_share_size=5000)
    assert configured.maximum_mutable_share_size == 5000
