"""Disk backend: mutable shares (create, rewrite, holes, lengths, leases), space, advisories."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_twisted

from tahoe_cloud.backends.disk import DiskBackend, create_backend
from tahoe_cloud.backends.disk import fileio as fileio_module
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.formats import mutable as mut
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex, WriteEnabler
from tahoe_cloud.vocabulary import WriteVector as W

ENABLER = WriteEnabler(nodeid=b"\x05" * 20, secret=b"\x06" * 32)


def lease(n: int, expiration: int = 1000) -> Lease:
    return Lease(n, bytes([n]) * 32, bytes([n + 100]) * 32, expiration, nodeid=b"\x07" * 20)


@pytest_twisted.ensureDeferred
async def test_new_mutable_is_created_by_its_first_write(
    backend: DiskBackend, si: StorageIndex
) -> None:
    async with backend.shareset(si) as shares:
        handle = shares.new_mutable(1, ENABLER)
        assert await shares.list_shares() == {}
        assert await handle.size() == 0 and await handle.read(0, 10) == b""
        with pytest.raises(ShareNotFound):
            await shares.open_mutable(1)
        await handle.write([W(0, b"hello"), W(10, b"world")], None)
        assert await shares.list_shares() == {1: ShareKind.MUTABLE}
        opened = await shares.open_mutable(1)
        assert await opened.read(0, 100) == b"hello\0\0\0\0\0world"
        enabler = await opened.write_enabler()
        assert enabler.matches(ENABLER.secret) and enabler.nodeid == ENABLER.nodeid
        parsed = mut.parse_container(backend.layout.share_path(si, 1).read_bytes())
        assert parsed.header.version == 2
        with pytest.raises(ShareNotFound):
            await shares.open_immutable(1)


@pytest_twisted.ensureDeferred
async def test_writes_holes_and_new_length(backend: DiskBackend, si: StorageIndex) -> None:
    async with backend.shareset(si) as shares:
        handle = shares.new_mutable(0, ENABLER)
        await handle.write([W(0, b"abcdefghij")], None)
        await handle.write([W(2, b"XY"), W(4, b"Z"), W(3, b"Q")], None)  # applied in order
        assert await handle.read(0, 100) == b"abXQZfghij"
        await handle.write([], 4)  # truncate
        assert await handle.size() == 4 and await handle.read(0, 100) == b"abXQ"
        await handle.write([], 8)  # extend with zeros, not the old bytes
        assert await handle.read(0, 100) == b"abXQ\0\0\0\0"
        await handle.write([W(6, b"longer write")], 9)  # writes first, then the length
        assert await handle.read(0, 100) == b"abXQ\0\0lon"
        assert await handle.read(7, 1) == b"o" and await handle.read(9, 5) == b""


@pytest_twisted.ensureDeferred
async def test_extra_leases_survive_data_writes(backend: DiskBackend, si: StorageIndex) -> None:
    async with backend.shareset(si) as shares:
        handle = shares.new_mutable(0, ENABLER)
        await handle.write([W(0, b"x" * 100)], None)
        six = [lease(n, 1000 + n) for n in range(1, 7)]
        await shares.write_leases({0: six})
        await handle.write([W(5000, b"tail")], None)
        await handle.write([W(0, b"y")], 3000)
        stored = (await shares.read_leases())[0]
        assert [s.expiration for s in stored] == [1000 + n for n in range(1, 7)]
        assert all(s.hashed for s in stored)
        assert stored[5].renew_secret_matches(bytes([6]) * 32)
        assert stored[5].nodeid == b"\x07" * 20
        # Same number of extra leases: rewritten in place.
        await shares.write_leases({0: [lease(n, 2000 + n) for n in range(1, 7)]})
        assert [s.expiration for s in (await shares.read_leases())[0]] == [
            2000 + n for n in range(1, 7)
        ]
        assert await handle.read(0, 2) == b"yx"
        assert await handle.size() == 3000
        assert [p.name for p in backend.layout.share_dir(si).iterdir()] == ["0"]


@pytest_twisted.ensureDeferred
async def test_v1_mutable_stays_v1(backend: DiskBackend, si: StorageIndex) -> None:
    path = backend.layout.share_path(si, 3)
    path.parent.mkdir(parents=True)
    path.write_bytes(mut.build_container(1, b"\x01" * 20, b"\x02" * 32, b"old", [lease(1)]))
    async with backend.shareset(si) as shares:
        handle = await shares.open_mutable(3)
        await handle.write([W(3, b" and new")], None)
        await shares.write_leases({3: [lease(1), lease(2), lease(3), lease(4), lease(5)]})
        parsed = mut.parse_container(path.read_bytes())
        assert parsed.header.version == 1 and parsed.data == b"old and new"
        assert [s.hashed for s in parsed.leases] == [False] * 5
        assert (await handle.write_enabler()).matches(b"\x02" * 32)


@pytest_twisted.ensureDeferred
async def test_failed_mutable_write_leaves_the_old_share(
    backend: DiskBackend, si: StorageIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with backend.shareset(si) as shares:
        handle = shares.new_mutable(0, ENABLER)
        await handle.write([W(0, b"before")], None)

        def broken_replace(src: object, dst: object) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(fileio_module.os, "replace", broken_replace)  # type: ignore[attr-defined]
        with pytest.raises(BackendError, match="Input/output error"):
            await handle.write([W(0, b"after!")], None)
        monkeypatch.undo()
        assert await handle.read(0, 100) == b"before"
        assert [p.name for p in backend.layout.share_dir(si).iterdir()] == ["0"]


@pytest_twisted.ensureDeferred
async def test_open_missing_mutable(backend: DiskBackend, si: StorageIndex) -> None:
    async with backend.shareset(si) as shares:
        with pytest.raises(ShareNotFound):
            await shares.open_mutable(0)


@pytest_twisted.ensureDeferred
async def test_available_space(tmp_path: Path) -> None:
    plain = DiskBackend(storage_dir=tmp_path)
    reserved = DiskBackend(storage_dir=tmp_path, reserved_space=10**6)
    greedy = DiskBackend(storage_dir=tmp_path, reserved_space=2**80)
    for b in (plain, reserved, greedy):
        await b.start()
    try:
        free = await plain.available_space()
        assert free > 0
        assert 0 <= await reserved.available_space() <= free
        assert await greedy.available_space() == 0
    finally:
        for b in (plain, reserved, greedy):
            await b.stop()


@pytest_twisted.ensureDeferred
async def test_corruption_advisory_is_written_as_upstream_does(
    backend: DiskBackend, si: StorageIndex
) -> None:
    await backend.add_corruption_advisory(ShareKind.MUTABLE, si, 7, b"bad hash\xff")
    await backend.add_corruption_advisory(ShareKind.MUTABLE, si, 7, b"again")
    files = sorted(backend.layout.advisories_dir.iterdir())
    assert len(files) == 2
    pattern = re.compile(r"\d{4}-\d\d-\d\dT\d{6}(\.\d{6})?--" + si.text + r"-7(\.\d+)?\Z")
    assert all(pattern.match(f.name) for f in files), [f.name for f in files]
    texts = sorted(f.read_text("utf-8") for f in files)
    assert texts[1] == (
        "report: Share Corruption\ntype: mutable\n"
        f"storage_index: {si.text}\nshare_number: 7\n\nbad hash\ufffd\n\n"
    )
    async with backend.shareset(si) as shares:
        assert not (await shares.list_shares())  # shares untouched


def test_create_backend_from_config(tmp_path: Path) -> None:
    config = SimpleNamespace(storage=SimpleNamespace(storage_dir=tmp_path, reserved_space=123))
    backend = create_backend(config)  # type: ignore[arg-type]
    assert isinstance(backend, DiskBackend)
    assert backend.layout.storage_dir == tmp_path
    assert backend.reserved_space == 123
    assert backend.name == "disk"
    assert backend.maximum_mutable_share_size == 69105 * 10**12


@pytest_twisted.ensureDeferred
async def test_objects_provide_the_backend_interfaces(
    backend: DiskBackend, si: StorageIndex
) -> None:
    from zope.interface.verify import verifyObject

    from tahoe_cloud.backends.interfaces import (
        IImmutableShare,
        IImmutableUpload,
        IMutableShare,
        IShareSet,
        IStorageBackend,
    )

    assert verifyObject(IStorageBackend, backend)
    async with backend.shareset(si) as shares:
        assert verifyObject(IShareSet, shares)
        up = await shares.start_immutable_upload(0, 1)
        assert verifyObject(IImmutableUpload, up)
        await up.write(0, b"z")
        await up.publish([])
        assert verifyObject(IImmutableShare, await shares.open_immutable(0))
        assert verifyObject(IMutableShare, shares.new_mutable(1, ENABLER))


@pytest.mark.parametrize("size", [100, 300 * 1024], ids=["read whole", "above CACHE_LIMIT"])
@pytest_twisted.ensureDeferred
async def test_a_share_set_stays_consistent_with_the_files(
    backend: DiskBackend, si: StorageIndex, size: int
) -> None:
    # One share set serves a whole locked operation from what its listing parsed;
    # after each of its own writes it must answer as a fresh share set would.
    async with backend.shareset(si) as shares:
        assert await shares.list_shares() == {}
        await shares.new_mutable(0, ENABLER).write([W(0, b"a" * size)], None)
        await shares.new_mutable(1, ENABLER).write([W(0, b"b" * 10)], None)
        await shares.write_leases({0: [lease(1)], 1: [lease(2)]})

        async def fresh_listing() -> dict[int, ShareKind]:
            async with backend.shareset(si) as s:
                return await s.list_shares()

        async def fresh_view() -> tuple[object, ...]:
            async with backend.shareset(si) as s:
                return await view(s)

        async def view(s: object, relist: bool = True) -> tuple[object, ...]:
            # relist=False: answer from what the share set already knows (its cache).
            listing = await fresh_listing()
            if relist:
                assert await s.list_shares() == listing  # type: ignore[attr-defined]
            handles = {n: await s.open_mutable(n) for n in listing}  # type: ignore[attr-defined]
            return (
                listing,
                await s.read_leases(),  # type: ignore[attr-defined]
                {n: (await h.size(), await h.read(size - 5, 10)) for n, h in handles.items()},
                {n: (await h.write_enabler()).secret for n, h in handles.items()},
            )

        assert await view(shares, relist=False) == await fresh_view()
        async with backend.shareset(si) as cached:
            assert await view(cached) == await fresh_view()
            share = await cached.open_mutable(0)
            await share.write([W(size - 2, b"XYZ")], None)
            assert await share.read(size - 3, 10) == b"aXYZ"
            await cached.write_leases({0: [lease(1, 5000), lease(3)]})
            assert await view(cached, relist=False) == await fresh_view()
            await cached.delete_share(1)
            with pytest.raises(ShareNotFound):
                await cached.open_mutable(1)
            async with backend.shareset(si) as fresh:
                assert await cached.read_leases() == await fresh.read_leases()
            assert await view(cached, relist=False) == await fresh_view()


@pytest_twisted.ensureDeferred
async def test_a_small_share_growing_past_the_cache_limit(
    backend: DiskBackend, si: StorageIndex
) -> None:
    async with backend.shareset(si) as shares:
        handle = shares.new_mutable(0, ENABLER)
        await handle.write([W(0, b"small")], None)  # the handle now holds the parse, with data
        await handle.write([W(300 * 1024, b"end")], None)
        async with backend.shareset(si) as other:
            fresh = await other.open_mutable(0)
            assert await fresh.size() == 300 * 1024 + 3
            assert await fresh.read(0, 8) == b"small\x00\x00\x00"
            assert await fresh.read(300 * 1024 - 1, 10) == b"\x00end"
        await handle.write([W(1, b"X")], None)  # from the large parse: copied from the file
        async with backend.shareset(si) as other:
            assert await (await other.open_mutable(0)).read(0, 3) == b"sXa"
