"""Immutable shares: allocation, uploads in any order, reads, abort, idle timeout."""

from __future__ import annotations

import os

import pytest
from twisted.internet.task import Clock

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.errors import (
    ConflictingWrite,
    InvalidRequest,
    ShareNotFound,
    UploadAlreadyComplete,
    UploadNotFound,
    WriteBeyondAllocation,
    WrongUploadSecret,
)
from tahoe_cloud.server.messages import ByteRange
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.harness import BackendHarness
from tahoe_cloud.testing.reactor import async_test
from tahoe_cloud.testing.support import (
    lease_secrets,
    make_server,
    new_si,
    upload_secret,
    upload_share,
)
from tahoe_cloud.vocabulary import StorageIndex


async def allocate(
    server: StorageServer, si: StorageIndex, shnums: set[int], size: int, secret: bytes
) -> tuple[frozenset[int], frozenset[int]]:
    result = await server.allocate_buckets(
        si,
        lease=lease_secrets(),
        upload_secret=secret,
        share_numbers=frozenset(shnums),
        allocated_size=size,
    )
    return result.already_have, result.allocated


class ImmutableTests(BackendHarness):
    """Immutable shares through ``StorageServer``."""

    @async_test
    async def test_allocate_write_read(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        data = os.urandom(1000)
        have, allocated = await allocate(server, si, {0, 3}, len(data), secret)
        assert (have, allocated) == (frozenset(), frozenset({0, 3}))
        result = await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data)
        assert result.complete and result.required == ()
        assert await server.list_immutable_shares(si) == {0}
        assert await server.read_immutable(si, 0, 0, 1000) == data
        assert await server.read_immutable(si, 0, 100, 50) == data[100:150]

    @async_test
    async def test_upload_invisible_until_complete(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {1}, 10, secret)
        result = await server.write_immutable(si, 1, upload_secret=secret, offset=0, data=b"01234")
        assert not result.complete
        assert result.required == (ByteRange(5, 10),)
        assert await server.list_immutable_shares(si) == frozenset()
        with pytest.raises(ShareNotFound):
            await server.read_immutable(si, 1, 0, 10)

    @async_test
    async def test_already_have_lists_every_completed_share(self, server: StorageServer) -> None:
        si = new_si()
        await upload_share(server, si, 0, b"a" * 10)
        await upload_share(server, si, 5, b"b" * 10)
        secret = upload_secret()
        await allocate(server, si, {7}, 10, secret)  # in progress: in neither set below
        have, allocated = await allocate(server, si, {1, 7}, 10, upload_secret())
        assert have == {0, 5}
        assert allocated == {1}

    @async_test
    async def test_second_allocate_of_share_in_progress(self, server: StorageServer) -> None:
        """Same or other upload secret: left out of both sets; the first upload stays."""
        si, first = new_si(), upload_secret()
        await allocate(server, si, {2}, 4, first)
        assert await allocate(server, si, {2}, 4, first) == (frozenset(), frozenset())
        other = upload_secret()
        assert await allocate(server, si, {2}, 4, other) == (frozenset(), frozenset())
        with pytest.raises(WrongUploadSecret):
            await server.write_immutable(si, 2, upload_secret=other, offset=0, data=b"abcd")
        result = await server.write_immutable(si, 2, upload_secret=first, offset=0, data=b"abcd")
        assert result.complete

    @async_test
    async def test_out_of_order_and_repeated_writes(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        data = os.urandom(100)
        await allocate(server, si, {0}, 100, secret)

        async def write(begin: int, end: int) -> tuple[ByteRange, ...]:
            result = await server.write_immutable(
                si, 0, upload_secret=secret, offset=begin, data=data[begin:end]
            )
            return result.required

        assert await write(50, 60) == (ByteRange(0, 50), ByteRange(60, 100))
        assert await write(90, 100) == (ByteRange(0, 50), ByteRange(60, 90))
        assert await write(50, 60) == (ByteRange(0, 50), ByteRange(60, 90))  # repeated
        assert await write(40, 95) == (ByteRange(0, 40),)  # overlapping, equal bytes
        result = await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data[:40])
        assert result.complete
        assert await server.read_immutable(si, 0, 0, 100) == data

    @async_test
    async def test_conflicting_write_changes_nothing(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {0}, 20, secret)
        await server.write_immutable(si, 0, upload_secret=secret, offset=5, data=b"xxxxx")
        with pytest.raises(ConflictingWrite):
            # New bytes 0..5 and a differing overlap at 5..10: none of it is stored.
            await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"a" * 10)
        result = await server.write_immutable(
            si, 0, upload_secret=secret, offset=10, data=b"b" * 10
        )
        assert result.required == (ByteRange(0, 5),)
        result = await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"c" * 5)
        assert result.complete
        assert await server.read_immutable(si, 0, 0, 20) == b"ccccc" + b"xxxxx" + b"b" * 10

    @async_test
    async def test_write_beyond_allocation(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {0}, 10, secret)
        with pytest.raises(WriteBeyondAllocation):
            await server.write_immutable(si, 0, upload_secret=secret, offset=5, data=b"123456")
        with pytest.raises(WriteBeyondAllocation):
            await server.write_immutable(si, 0, upload_secret=secret, offset=11, data=b"")
        with pytest.raises(InvalidRequest):
            await server.write_immutable(si, 0, upload_secret=secret, offset=-1, data=b"1")
        result = await server.write_immutable(si, 0, upload_secret=secret, offset=5, data=b"12345")
        assert result.required == (ByteRange(0, 5),)

    @async_test
    async def test_wrong_secret_and_unknown_upload(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {0}, 10, secret)
        with pytest.raises(WrongUploadSecret):
            await server.write_immutable(si, 0, upload_secret=upload_secret(), offset=0, data=b"1")
        with pytest.raises(UploadNotFound):
            await server.write_immutable(si, 1, upload_secret=secret, offset=0, data=b"1")
        with pytest.raises(UploadNotFound):
            await server.write_immutable(new_si(), 0, upload_secret=secret, offset=0, data=b"1")

    @async_test
    async def test_write_after_complete_is_not_found(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {0}, 3, secret)
        await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"abc")
        with pytest.raises(UploadNotFound):
            await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"abc")

    @async_test
    async def test_empty_share(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        assert await allocate(server, si, {0}, 0, secret) == (frozenset(), frozenset({0}))
        result = await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"")
        assert result.complete
        assert await server.read_immutable(si, 0, 0, 10) == b""

    @async_test
    async def test_reads_truncated_and_past_end(self, server: StorageServer) -> None:
        si = new_si()
        data = os.urandom(100)
        await upload_share(server, si, 4, data)
        assert await server.read_immutable(si, 4, 90, 50) == data[90:]
        assert await server.read_immutable(si, 4, 100, 10) == b""
        assert await server.read_immutable(si, 4, 1000, 10) == b""
        assert await server.read_immutable(si, 4, 10, 0) == b""
        with pytest.raises(ShareNotFound):
            await server.read_immutable(si, 5, 0, 10)
        with pytest.raises(ShareNotFound):
            await server.read_immutable(new_si(), 4, 0, 10)
        with pytest.raises(InvalidRequest):
            await server.read_immutable(si, 4, -1, 10)
        with pytest.raises(InvalidRequest):
            await server.read_immutable(si, 256, 0, 10)

    @async_test
    async def test_abort(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {0, 1}, 10, secret)
        await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"12345")
        with pytest.raises(WrongUploadSecret):
            await server.abort_immutable(si, 0, upload_secret=upload_secret())
        await server.abort_immutable(si, 0, upload_secret=secret)
        with pytest.raises(UploadNotFound):
            await server.abort_immutable(si, 0, upload_secret=secret)
        with pytest.raises(UploadNotFound):
            await server.write_immutable(si, 0, upload_secret=secret, offset=5, data=b"12345")
        assert await server.list_immutable_shares(si) == frozenset()
        # The share can be allocated again, from scratch.
        other = upload_secret()
        assert await allocate(server, si, {0}, 4, other) == (frozenset(), frozenset({0}))
        result = await server.write_immutable(si, 0, upload_secret=other, offset=0, data=b"wxyz")
        assert result.complete
        assert await server.read_immutable(si, 0, 0, 10) == b"wxyz"
        with pytest.raises(UploadAlreadyComplete):
            await server.abort_immutable(si, 0, upload_secret=other)
        with pytest.raises(UploadNotFound):
            await server.abort_immutable(si, 9, upload_secret=other)

    @async_test
    async def test_idle_upload_times_out(self, server: StorageServer, clock: Clock) -> None:
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {0}, 10, secret)
        clock.advance(29 * 60)
        await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"12345")
        clock.advance(29 * 60)  # 58 minutes since allocate, 29 since the last write
        await server.write_immutable(si, 0, upload_secret=secret, offset=5, data=b"6")
        clock.advance(30 * 60 + 1)
        await server.uploads.abort_all()  # waits for the timed-out abort to finish
        with pytest.raises(UploadNotFound):
            await server.write_immutable(si, 0, upload_secret=secret, offset=6, data=b"7890")
        assert await allocate(server, si, {0}, 10, upload_secret()) == (frozenset(), frozenset({0}))

    @async_test
    async def test_stop_aborts_uploads(self, backend: IStorageBackend, clock: Clock) -> None:
        server = make_server(backend, clock)
        await server.start()
        si, secret = new_si(), upload_secret()
        await allocate(server, si, {0, 1}, 10, secret)
        await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"12345")
        await server.stop()
        assert server.uploads.promised() == 0
        assert clock.getDelayedCalls() == []
        # A new server on the same storage sees nothing of them.
        again = make_server(backend, clock)
        await again.start()
        try:
            assert await again.list_immutable_shares(si) == frozenset()
            assert await allocate(again, si, {0, 1}, 10, secret) == (frozenset(), frozenset({0, 1}))
        finally:
            await again.stop()

    @async_test
    async def test_readonly_allocates_nothing(self, backend: IStorageBackend, clock: Clock) -> None:
        writer = make_server(backend, clock)
        await writer.start()
        si = new_si()
        await upload_share(writer, si, 0, b"data")
        await writer.stop()
        server = make_server(backend, clock, readonly=True)
        await server.start()
        try:
            assert await allocate(server, si, {0, 1}, 4, upload_secret()) == (
                frozenset({0}),
                frozenset(),
            )
            assert await allocate(server, new_si(), {0}, 0, upload_secret()) == (
                frozenset(),
                frozenset(),
            )
            version = await server.get_version()
            assert version.available_space == 0
            assert version.maximum_immutable_share_size == 0
        finally:
            await server.stop()

    @async_test
    async def test_allocate_rejects_bad_input(self, server: StorageServer) -> None:
        with pytest.raises(InvalidRequest):
            await allocate(server, new_si(), {256}, 10, upload_secret())
        with pytest.raises(InvalidRequest):
            await allocate(server, new_si(), {0}, -1, upload_secret())

    @async_test
    async def test_allocation_that_does_not_fit_is_left_out(self, server: StorageServer) -> None:
        available = (await server.get_version()).available_space
        si = new_si()
        have, allocated = await allocate(server, si, {0}, available + 1, upload_secret())
        assert (have, allocated) == (frozenset(), frozenset())
