"""Mutable slots: read-test-write semantics, as upstream's server has them."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.errors import (
    InvalidRequest,
    ShareNotFound,
    ShareTooLarge,
    WrongWriteEnabler,
)
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.messages import ReadTestWriteResult, ReadVector
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.harness import BackendHarness
from tahoe_cloud.testing.reactor import async_test
from tahoe_cloud.testing.support import (
    lease_secrets,
    make_server,
    new_si,
    upload_secret,
    upload_share,
    write_enabler,
)
from tahoe_cloud.vocabulary import StorageIndex, WriteVector


def tw(
    *writes: tuple[int, bytes],
    tests: tuple[tuple[int, int, bytes], ...] = (),
    new_length: int | None = None,
) -> m.TestWriteVectors:
    return m.TestWriteVectors(
        tests=tuple(m.TestVector(o, s, sp) for o, s, sp in tests),
        writes=tuple(WriteVector(o, d) for o, d in writes),
        new_length=new_length,
    )


async def rtw(
    server: StorageServer,
    si: StorageIndex,
    we: bytes,
    vectors: dict[int, m.TestWriteVectors],
    reads: tuple[tuple[int, int], ...] = (),
) -> ReadTestWriteResult:
    return await server.read_test_write(
        si,
        write_enabler=we,
        lease=lease_secrets(),
        vectors=vectors,
        read_vector=[ReadVector(o, s) for o, s in reads],
    )


async def contents(server: StorageServer, si: StorageIndex) -> dict[int, bytes]:
    return {
        n: await server.read_mutable(si, n, 0, 1 << 30)
        for n in sorted(await server.list_mutable_shares(si))
    }


class MutableTests(BackendHarness):
    """Mutable slots through ``StorageServer``."""

    @async_test
    async def test_create_and_read(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        result = await rtw(server, si, we, {0: tw((0, b"hello")), 3: tw((0, b"world"))}, ((0, 5),))
        assert result.success
        assert dict(result.data) == {}  # nothing existed before the writes
        assert await contents(server, si) == {0: b"hello", 3: b"world"}
        assert await server.read_mutable(si, 0, 1, 3) == b"ell"
        assert await server.read_mutable(si, 0, 3, 10) == b"lo"
        assert await server.read_mutable(si, 0, 5, 10) == b""
        with pytest.raises(ShareNotFound):
            await server.read_mutable(si, 1, 0, 10)
        assert await server.list_immutable_shares(si) == frozenset()

    @async_test
    async def test_reads_cover_every_share_before_writes(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"aaaa")), 1: tw((0, b"bbbb"))})
        result = await rtw(server, si, we, {0: tw((0, b"XX"))}, ((0, 2), (3, 5)))
        assert result.success
        assert {n: list(v) for n, v in result.data.items()} == {
            0: [b"aa", b"a"],
            1: [b"bb", b"b"],
        }
        assert await contents(server, si) == {0: b"XXaa", 1: b"bbbb"}

    @async_test
    async def test_wrong_write_enabler_changes_nothing(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"data"))})
        with pytest.raises(WrongWriteEnabler):
            await rtw(server, si, write_enabler(), {0: tw((0, b"evil"))})
        with pytest.raises(WrongWriteEnabler):
            # Creating another share of the slot is refused too (upstream checks all shares).
            await rtw(server, si, write_enabler(), {1: tw((0, b"evil"))})
        assert await contents(server, si) == {0: b"data"}
        leases = await server.get_leases(si)
        assert len(leases[0]) == 1

    @async_test
    async def test_failed_test_vector_writes_nothing_but_reads(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"abcdef"))})
        result = await rtw(
            server,
            si,
            we,
            {0: tw((0, b"ZZ"), tests=((0, 3, b"abc"),)), 1: tw((0, b"new"), tests=((0, 1, b"x"),))},
            ((0, 6),),
        )
        assert not result.success
        assert {n: list(v) for n, v in result.data.items()} == {0: [b"abcdef"]}
        assert await contents(server, si) == {0: b"abcdef"}

    @pytest.mark.parametrize(
        ("test", "passes"),
        [
            ((0, 3, b"abc"), True),
            ((0, 3, b"abd"), False),
            ((0, 0, b""), True),
            ((0, 0, b"a"), False),
            ((4, 10, b"ef"), True),  # truncated at the end of the share
            ((4, 10, b"ef\x00"), False),
            ((6, 5, b""), True),  # past the end reads empty
            ((10, 1, b""), True),
            ((0, 2, b"abc"), False),  # specimen longer than the bytes read
        ],
    )
    @async_test
    async def test_test_vector_on_existing_share(
        self, server: StorageServer, test: tuple[int, int, bytes], passes: bool
    ) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"abcdef"))})
        result = await rtw(server, si, we, {0: tw((0, b"Z"), tests=(test,))})
        assert result.success is passes
        assert await contents(server, si) == {0: b"Zbcdef" if passes else b"abcdef"}

    @pytest.mark.parametrize(
        ("test", "passes"),
        [((0, 0, b""), True), ((0, 5, b""), True), ((0, 1, b"a"), False), ((3, 1, b"\x00"), False)],
    )
    @async_test
    async def test_missing_share_tests_as_empty(
        self, server: StorageServer, test: tuple[int, int, bytes], passes: bool
    ) -> None:
        si, we = new_si(), write_enabler()
        result = await rtw(server, si, we, {2: tw((0, b"new"), tests=(test,))})
        assert result.success is passes
        assert await contents(server, si) == ({2: b"new"} if passes else {})

    @async_test
    async def test_holes_are_zero_filled(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"ab"), (5, b"cd"))})
        assert await contents(server, si) == {0: b"ab\x00\x00\x00cd"}
        await rtw(server, si, we, {0: tw((10, b"e"))})
        assert await contents(server, si) == {0: b"ab\x00\x00\x00cd\x00\x00\x00e"}

    @async_test
    async def test_writes_apply_in_order(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"aaaa"), (1, b"bb"), (2, b"c"))})
        assert await contents(server, si) == {0: b"abca"}

    @async_test
    async def test_new_length_truncates_after_writes(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"abcdef"))})
        await rtw(server, si, we, {0: tw((6, b"gh"), new_length=4)})
        assert await contents(server, si) == {0: b"abcd"}
        # Upstream never extends through new-length: a larger value is ignored.
        await rtw(server, si, we, {0: tw(new_length=10)})
        assert await contents(server, si) == {0: b"abcd"}

    @async_test
    async def test_new_length_zero_deletes(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((0, b"abc")), 1: tw((0, b"def"))})
        result = await rtw(server, si, we, {0: tw(new_length=0), 5: tw(new_length=0)}, ((0, 3),))
        assert result.success
        assert {n: list(v) for n, v in result.data.items()} == {0: [b"abc"], 1: [b"def"]}
        assert await contents(server, si) == {1: b"def"}
        await rtw(server, si, we, {1: tw(new_length=0)})
        assert await server.list_mutable_shares(si) == frozenset()
        # The slot is gone: a new write enabler may create it again.
        other = write_enabler()
        assert (await rtw(server, si, other, {0: tw((0, b"x"))})).success

    @async_test
    async def test_share_named_without_writes_is_created(self, server: StorageServer) -> None:
        """Upstream creates an empty share for every share number in the request."""
        si, we = new_si(), write_enabler()
        result = await rtw(server, si, we, {4: tw()})
        assert result.success
        assert await contents(server, si) == {4: b""}

    @async_test
    async def test_write_adds_or_renews_lease(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        lease = lease_secrets()
        for _ in range(2):
            await server.read_test_write(
                si,
                write_enabler=we,
                lease=lease,
                vectors={0: tw((0, b"x"))},
                read_vector=[],
            )
        leases = await server.get_leases(si)
        assert len(leases[0]) == 1
        await rtw(server, si, we, {0: tw((0, b"y"))})
        assert len((await server.get_leases(si))[0]) == 2

    @async_test
    async def test_too_large(self, backend: IStorageBackend, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        limit = server.maximum_mutable_share_size
        assert limit <= int(backend.maximum_mutable_share_size)
        await rtw(server, si, we, {0: tw((0, b"abc"))})
        with pytest.raises(ShareTooLarge):
            await rtw(server, si, we, {0: tw((0, b"new")), 1: tw((limit, b"x"))})
        assert await contents(server, si) == {0: b"abc"}
        version = await server.get_version()
        assert version.maximum_mutable_share_size == limit

    @async_test
    async def test_limits(self, server: StorageServer) -> None:
        si, we = new_si(), write_enabler()
        assert (
            await rtw(server, si, we, {0: tw(tests=((0, 0, b""),) * 30)}, ((0, 1),) * 30)
        ).success
        with pytest.raises(InvalidRequest):
            await rtw(server, si, we, {0: tw(tests=((0, 0, b""),) * 31)})
        with pytest.raises(InvalidRequest):
            await rtw(server, si, we, {0: tw()}, ((0, 1),) * 31)
        with pytest.raises(InvalidRequest):
            await rtw(server, si, we, {256: tw((0, b"x"))})
        with pytest.raises(InvalidRequest):
            await rtw(server, si, we, {0: tw((-1, b"x"))})
        with pytest.raises(InvalidRequest):
            await rtw(server, si, we, {0: tw()}, ((-1, 1),))
        with pytest.raises(InvalidRequest):
            await rtw(server, si, we, {0: tw(new_length=-1)})

    @async_test
    async def test_immutable_share_number_is_not_overwritten(self, server: StorageServer) -> None:
        si = new_si()
        await upload_share(server, si, 0, b"immutable")
        with pytest.raises(InvalidRequest):
            await rtw(server, si, write_enabler(), {0: tw((0, b"mutable"))})
        assert await server.read_immutable(si, 0, 0, 100) == b"immutable"

    @async_test
    async def test_writes_in_readonly_mode(self, backend: IStorageBackend, clock: Clock) -> None:
        """Read-only refuses new immutable shares only; mutable writes go on (upstream)."""
        ro = make_server(backend, clock, readonly=True)
        await ro.start()
        try:
            si, we = new_si(), write_enabler()
            assert (await rtw(ro, si, we, {0: tw((0, b"x"))})).success
        finally:
            await ro.stop()

    @async_test
    async def test_empty_write_past_the_end_extends(self, server: StorageServer) -> None:
        """Upstream sets the length to the offset of an empty write past the end."""
        si, we = new_si(), write_enabler()
        await rtw(server, si, we, {0: tw((3, b""))})
        assert await contents(server, si) == {0: b"\x00\x00\x00"}
        await rtw(server, si, we, {0: tw((1, b""), (5, b""))})
        assert await contents(server, si) == {0: b"\x00" * 5}

    @async_test
    async def test_share_being_uploaded_is_not_made_mutable(self, server: StorageServer) -> None:
        si, secret = new_si(), upload_secret()
        await server.allocate_buckets(
            si,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({0}),
            allocated_size=3,
        )
        with pytest.raises(InvalidRequest):
            await rtw(server, si, write_enabler(), {0: tw((0, b"mutable"))})
        assert (
            await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"abc")
        ).complete
        assert await server.list_mutable_shares(si) == frozenset()
