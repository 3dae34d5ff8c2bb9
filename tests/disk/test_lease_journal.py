"""Disk backend: a lease added or removed never copies the share, and survives a crash.

A copy shows as a new inode (the old code wrote a replacement file and
renamed it over the share). A crash is simulated by making the in-place
writes fail after the journal is durable, or by applying only part of them
by hand; ``prepare_storage`` (what ``start()`` runs) must then finish the
change, leaving the data intact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_twisted

from tahoe_cloud.backends.disk import DiskBackend, lease_journal
from tahoe_cloud.backends.disk.backend import prepare_storage
from tahoe_cloud.formats import immutable as imm
from tahoe_cloud.formats import mutable as mut
from tahoe_cloud.vocabulary import Lease, StorageIndex, WriteEnabler, WriteVector

BIG = bytes(range(256)) * 4096  # 1 MiB: staged on disk


def lease(n: int, expiration: int = 1000) -> Lease:
    return Lease(n % 255 + 1, n.to_bytes(32, "big"), (n + 7).to_bytes(32, "big"), expiration)


async def immutable_share(backend: DiskBackend, si: StorageIndex) -> Path:
    async with backend.shareset(si) as share_set:
        up = await share_set.start_immutable_upload(0, len(BIG))
    await up.write(0, BIG)
    await up.publish([lease(1)])
    return backend.layout.share_path(si, 0)


async def mutable_share(backend: DiskBackend, si: StorageIndex) -> Path:
    async with backend.shareset(si) as share_set:
        share = share_set.new_mutable(1, WriteEnabler(b"n" * 20, b"w" * 32))
        await share.write([WriteVector(0, BIG)], None)
    return backend.layout.share_path(si, 1)


async def data_of(backend: DiskBackend, si: StorageIndex, shnum: int) -> bytes:
    async with backend.shareset(si) as shares:
        kind = (await shares.list_shares())[shnum]
        share = await (
            shares.open_immutable(shnum)
            if kind.value == "immutable"
            else shares.open_mutable(shnum)
        )
        return bytes(await share.read(0, 2 * len(BIG)))


@pytest.mark.parametrize("make,shnum", [(immutable_share, 0), (mutable_share, 1)])
@pytest_twisted.ensureDeferred
async def test_adding_and_removing_leases_does_not_copy_the_share(
    backend: DiskBackend, si: StorageIndex, make: object, shnum: int
) -> None:
    path = await make(backend, si)  # type: ignore[operator]
    inode = os.stat(path).st_ino
    async with backend.shareset(si) as shares:
        for count in (2, 7, 12, 3, 0, 5):
            await shares.write_leases({shnum: [lease(n) for n in range(count)]})
            assert os.stat(path).st_ino == inode, "the share was copied"
            stored = (await shares.read_leases())[shnum]
            assert [x.expiration for x in stored] == [1000] * count
            assert all(x.renew_secret_matches(lease(n).renew_secret) for n, x in enumerate(stored))
            assert await data_of(backend, si, shnum) == BIG
        assert not any(lease_journal.journal_dir(backend.layout.shares_dir).iterdir())


def _fail_after_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(fd: int, edits: object, final_size: int) -> None:
        raise OSError(5, "simulated crash after the journal was written")

    monkeypatch.setattr(lease_journal, "_apply", crash)


@pytest.mark.parametrize("make,shnum", [(immutable_share, 0), (mutable_share, 1)])
@pytest_twisted.ensureDeferred
async def test_crash_after_the_journal_is_finished_at_start(
    backend: DiskBackend, si: StorageIndex, make: object, shnum: int
) -> None:
    await make(backend, si)  # type: ignore[operator]
    async with backend.shareset(si) as shares:
        await shares.write_leases({shnum: [lease(1), lease(2)]})
        with pytest.MonkeyPatch.context() as mp:
            _fail_after_journal(mp)
            with pytest.raises(Exception, match="simulated crash"):
                await shares.write_leases({shnum: [lease(n) for n in range(1, 10)]})
        prepare_storage(backend.layout)
        async with backend.shareset(si) as share_set:
            stored = (await share_set.read_leases())[shnum]
        assert len(stored) == 9
        assert await data_of(backend, si, shnum) == BIG


@pytest_twisted.ensureDeferred
async def test_half_applied_immutable_change_is_finished_at_start(
    backend: DiskBackend, si: StorageIndex
) -> None:
    """The record appended but the count not written: lease bytes must never read as data."""
    path = await immutable_share(backend, si)
    new = [lease(1), lease(2)]
    edits = [
        (imm.lease_area_offset(len(BIG)), imm.encode_leases(2, new)),
        (imm.LEASE_COUNT_OFFSET, imm.pack_lease_count(2)),
    ]
    final = imm.lease_area_offset(len(BIG)) + 2 * 72
    directory = lease_journal.journal_dir(backend.layout.shares_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{si.text}.0").write_bytes(lease_journal._encode(path, edits, final))
    with open(path, "r+b") as f:  # the crash: only the first range reached the disk
        f.seek(edits[0][0])
        f.write(edits[0][1])
    prepare_storage(backend.layout)
    assert await data_of(backend, si, 0) == BIG
    async with backend.shareset(si) as share_set:
        assert len((await share_set.read_leases())[0]) == 2
    assert os.path.getsize(path) == final


@pytest_twisted.ensureDeferred
async def test_mutable_journal_keeps_the_extra_lease_block_format(
    backend: DiskBackend, si: StorageIndex
) -> None:
    path = await mutable_share(backend, si)
    async with backend.shareset(si) as share_set:
        await share_set.write_leases({1: [lease(n) for n in range(6)]})
    blob = path.read_bytes()
    header = mut.parse_header(blob[: mut.HEADER_SIZE])
    assert header.data_length == len(BIG)
    extra = blob[header.extra_lease_offset :]
    assert mut.parse_extra_count(extra[:4]) == 2 and len(extra) == 4 + 2 * 92


@pytest.mark.parametrize("make,shnum", [(immutable_share, 0), (mutable_share, 1)])
@pytest_twisted.ensureDeferred
async def test_a_change_that_fails_half_way_is_undone_at_once(
    backend: DiskBackend, si: StorageIndex, make: object, shnum: int
) -> None:
    """The disk fills after the first range was written: the share is as it was, no restart."""
    path = await make(backend, si)  # type: ignore[operator]
    async with backend.shareset(si) as shares:
        await shares.write_leases({shnum: [lease(1), lease(2)]})
        before = path.read_bytes()
        real_apply = lease_journal._apply
        calls = []

        def disk_full(fd: int, edits: list[tuple[int, bytes]], final_size: int) -> None:
            calls.append(final_size)
            if len(calls) == 1:
                real_apply(fd, edits[:1], final_size + 10_000)
                raise OSError(28, "No space left on device")
            real_apply(fd, edits, final_size)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(lease_journal, "_apply", disk_full)
            with pytest.raises(Exception, match="No space left"):
                await shares.write_leases({shnum: [lease(n) for n in range(1, 9)]})
        assert path.read_bytes() == before
        assert not any(lease_journal.journal_dir(backend.layout.shares_dir).iterdir())
        assert len((await shares.read_leases())[shnum]) == 2
        assert await data_of(backend, si, shnum) == BIG
