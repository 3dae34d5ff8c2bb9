"""Disk backend: layout, staged immutable uploads, publish, abort, reads, leases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_twisted

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.backends.disk import fileio as fileio_module
from tahoe_cloud.backends.disk import immutable as imm_disk
from tahoe_cloud.backends.disk.layout import rewrite_temp_path
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.formats import immutable as imm
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex

DATA = b"0123456789" * 300
BIG = bytes(range(256)) * 600  # above SMALL_UPLOAD: staged on disk


def lease(n: int, expiration: int = 1000) -> Lease:
    return Lease(n, bytes([n]) * 32, bytes([n + 100]) * 32, expiration)


async def upload(backend: DiskBackend, si: StorageIndex, shnum: int, data: bytes = DATA) -> None:
    async with backend.shareset(si) as share_set:
        up = await share_set.start_immutable_upload(shnum, len(data))
    await up.write(0, data)
    await up.publish([lease(1)])


def test_layout_is_upstreams(tmp_path: Path, si: StorageIndex) -> None:
    layout = DiskBackend(storage_dir=tmp_path).layout
    text = si.text
    assert layout.share_path(si, 7) == tmp_path / "shares" / text[:2] / text / "7"
    assert layout.incoming_path(si, 7) == tmp_path / "shares" / "incoming" / text[:2] / text / "7"
    assert layout.advisories_dir == tmp_path / "corruption-advisories"


@pytest.mark.parametrize("data", [DATA, BIG], ids=["in memory", "staged on disk"])
@pytest_twisted.ensureDeferred
async def test_upload_is_invisible_until_published(
    backend: DiskBackend, si: StorageIndex, data: bytes
) -> None:
    async with backend.shareset(si) as shares:
        up = await shares.start_immutable_upload(3, len(data))
        await up.write(1000, data[1000:])
        await up.write(0, data[:1000])
        assert await up.read(995, 10) == data[995:1005]
        assert await up.read(len(data) - 2, 10) == data[-2:]
        assert await shares.list_shares() == {}
        with pytest.raises(ShareNotFound):
            await shares.open_immutable(3)
        assert not backend.layout.share_path(si, 3).exists()
        # A small upload is held in memory until publish; a large one is staged in incoming/.
        assert backend.layout.incoming_path(si, 3).exists() == (len(data) > imm_disk.SMALL_UPLOAD)

        await up.publish([lease(1), lease(2)])
        assert await shares.list_shares() == {3: ShareKind.IMMUTABLE}
        assert not backend.layout.incoming_share_dir(si).exists()
        assert backend.layout.incoming_dir.exists()
        share = await shares.open_immutable(3)
        assert await share.size() == len(data)
        assert await share.read(0, 10**6) == data  # stops at the lease area
        assert await share.read(len(data) - 3, 100) == data[-3:]
        assert await share.read(len(data), 1) == b""
        parsed = imm.parse_container(backend.layout.share_path(si, 3).read_bytes())
        assert parsed.version == 2 and parsed.data == data
        assert all(stored.hashed for stored in parsed.leases)
        assert parsed.leases[1].renew_secret_matches(bytes([2]) * 32)


@pytest_twisted.ensureDeferred
async def test_memory_budget_bounds_buffered_uploads(tmp_path: Path, si: StorageIndex) -> None:
    backend = DiskBackend(storage_dir=tmp_path)
    await backend.start()
    try:
        backend._budget.limit = len(DATA)  # room for one buffered upload
        async with backend.shareset(si) as shares:
            first = await shares.start_immutable_upload(0, len(DATA))
            second = await shares.start_immutable_upload(1, len(DATA))
            await first.write(0, DATA[:10])
            await second.write(0, DATA[:10])  # over the budget: staged on disk
            assert not backend.layout.incoming_path(si, 0).exists()
            assert backend.layout.incoming_path(si, 1).exists()
            assert await first.read(0, 20) == DATA[:10] + bytes(10)
            assert await second.read(0, 20) == DATA[:10] + bytes(10)
            await first.abort()
            assert backend._budget.used == 0
            third = await shares.start_immutable_upload(2, len(DATA))
            await third.write(0, DATA)
            await third.publish([lease(1)])
            assert backend._budget.used == 0
            await second.write(10, DATA[10:])
            await second.publish([lease(1)])
            assert await shares.list_shares() == {1: ShareKind.IMMUTABLE, 2: ShareKind.IMMUTABLE}
            for n in (1, 2):
                assert (
                    imm.parse_container(backend.layout.share_path(si, n).read_bytes()).data == DATA
                )
    finally:
        await backend.stop()


@pytest_twisted.ensureDeferred
async def test_abort_leaves_nothing_and_is_idempotent(
    backend: DiskBackend, si: StorageIndex
) -> None:
    async with backend.shareset(si) as shares:
        up = await shares.start_immutable_upload(0, 100)
        await up.write(0, b"x" * 50)
        await up.abort()
        await up.abort()
        assert await shares.list_shares() == {}
        assert [p.name for p in backend.layout.incoming_dir.iterdir()] == ["rewrites"]
        assert not backend.layout.share_dir(si).exists()


@pytest_twisted.ensureDeferred
async def test_failed_publish_shows_nothing_and_can_be_aborted(
    backend: DiskBackend, si: StorageIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with backend.shareset(si) as shares:
        up = await shares.start_immutable_upload(0, len(DATA))
        await up.write(0, DATA)

        def broken_replace(src: object, dst: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(fileio_module.os, "replace", broken_replace)  # type: ignore[attr-defined]
        with pytest.raises(BackendError, match="No space left"):
            await up.publish([lease(1)])
        monkeypatch.undo()
        assert await shares.list_shares() == {}
        await up.abort()
        assert not backend.layout.incoming_path(si, 0).exists()


@pytest_twisted.ensureDeferred
async def test_start_removes_incoming_and_temporary_leftovers(
    tmp_path: Path, si: StorageIndex
) -> None:
    first = DiskBackend(storage_dir=tmp_path)
    await first.start()
    await upload(first, si, 1)
    async with first.shareset(si) as share_set:
        staged = await share_set.start_immutable_upload(2, 10)
    await staged.write(0, b"half")
    await first.stop()  # a "crash": the upload is never finished
    temp = rewrite_temp_path(first.layout.share_path(si, 1))
    temp.write_bytes(b"half-written rewrite")

    second = DiskBackend(storage_dir=tmp_path)
    await second.start()
    try:
        assert [p.name for p in second.layout.incoming_dir.iterdir()] == ["rewrites"]
        assert list(second.layout.rewrites_dir.iterdir()) == []
        assert not temp.exists()
        async with second.shareset(si) as shares:
            assert await shares.list_shares() == {1: ShareKind.IMMUTABLE}
            assert await (await shares.open_immutable(1)).read(0, 10**6) == DATA
    finally:
        await second.stop()


@pytest_twisted.ensureDeferred
async def test_stray_entries_are_ignored(backend: DiskBackend, si: StorageIndex) -> None:
    await upload(backend, si, 4)
    directory = backend.layout.share_dir(si)
    for name in ("007", "256", "-1", "4.bak", "notes.txt", ".4.tmp-0123456789abcdef", "99"):
        (directory / name).write_bytes(b"\x00\x00\x00\x07 not a share")
    (directory / "12").mkdir()
    (directory / "13").write_bytes(b"")
    async with backend.shareset(si) as shares:
        assert await shares.list_shares() == {4: ShareKind.IMMUTABLE}
        assert set(await shares.read_leases()) == {4}
        with pytest.raises(ShareNotFound):
            await shares.open_immutable(99)


@pytest_twisted.ensureDeferred
async def test_lease_rewrites_keep_data(backend: DiskBackend, si: StorageIndex) -> None:
    await upload(backend, si, 0)
    async with backend.shareset(si) as shares:
        await shares.write_leases({0: [lease(1, 5000), lease(2), lease(3)]})  # count change: copy
        await shares.write_leases({0: [lease(1, 5000), lease(2, 7000), lease(3)]})  # in place
        stored = (await shares.read_leases())[0]
        assert [s.expiration for s in stored] == [5000, 7000, 1000]
        assert stored[2].cancel_secret_matches(bytes([103]) * 32)
        share = await shares.open_immutable(0)
        assert await share.read(0, 10**6) == DATA
        await shares.write_leases({0: []})
        assert (await shares.read_leases())[0] == []
        assert await share.read(0, 10**6) == DATA
        assert [p.name for p in backend.layout.share_dir(si).iterdir()] == ["0"]
        with pytest.raises(ShareNotFound):
            await shares.write_leases({5: [lease(1)]})


@pytest_twisted.ensureDeferred
async def test_v1_container_stays_v1_with_clear_leases(
    backend: DiskBackend, si: StorageIndex
) -> None:
    path = backend.layout.share_path(si, 2)
    path.parent.mkdir(parents=True)
    path.write_bytes(imm.build_container(1, DATA, [lease(1)]))
    async with backend.shareset(si) as shares:
        assert await shares.list_shares() == {2: ShareKind.IMMUTABLE}
        await shares.write_leases({2: [lease(1), lease(2)]})
        parsed = imm.parse_container(path.read_bytes())
        assert parsed.version == 1 and parsed.data == DATA
        assert [s.hashed for s in parsed.leases] == [False, False]
        assert parsed.leases[1].renew_secret == bytes([2]) * 32


@pytest_twisted.ensureDeferred
async def test_delete_share(backend: DiskBackend, si: StorageIndex) -> None:
    await upload(backend, si, 0)
    await upload(backend, si, 1)
    async with backend.shareset(si) as shares:
        await shares.delete_share(0)
        await shares.delete_share(0)
        assert await shares.list_shares() == {1: ShareKind.IMMUTABLE}
        await shares.delete_share(1)
        assert not backend.layout.share_dir(si).exists()
        assert backend.layout.share_dir(si).parent.exists()  # prefix dirs are shared; kept


@pytest_twisted.ensureDeferred
async def test_os_errors_become_backend_errors(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    backend = DiskBackend(storage_dir=not_a_dir)
    with pytest.raises(BackendError, match="could not prepare"):
        await backend.start()


@pytest_twisted.ensureDeferred
async def test_unstarted_backend_refuses_work(tmp_path: Path, si: StorageIndex) -> None:
    backend = DiskBackend(storage_dir=tmp_path)
    with pytest.raises(BackendError, match="not started"):
        async with backend.shareset(si) as share_set:
            await share_set.list_shares()


@pytest_twisted.ensureDeferred
async def test_corrupt_share_file_is_a_backend_error(
    backend: DiskBackend, si: StorageIndex
) -> None:
    await upload(backend, si, 0)
    path = backend.layout.share_path(si, 0)
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(b"\x00\x00\x10\x00")  # lease count far beyond the file
    async with backend.shareset(si) as share_set:
        share = await share_set.open_immutable(0)
    with pytest.raises(BackendError, match="too short"):
        await share.read(0, 10)
    assert os.path.exists(path)
