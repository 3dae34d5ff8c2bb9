"""The disk backend's ``IShareEnumeration``: upstream's layout walked in order, in bounded batches.

The share files here are written directly (the walk reads names and mtimes,
never a container), so a test can hold hundreds of storage indexes in one
prefix directory and the strays a real directory collects.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from tahoe_cloud.backends.capabilities import IShareEnumeration, StoredIndex, enumeration_key
from tahoe_cloud.backends.disk import DiskBackend, enumeration
from tahoe_cloud.backends.disk.backend import DISK_BATCH
from tahoe_cloud.vocabulary import StorageIndex


def in_prefix_aa(i: int) -> StorageIndex:
    """Distinct storage indexes whose first ten bits are zero: all under ``shares/aa/``."""
    return StorageIndex(b"\x00\x00" + i.to_bytes(14, "big"))


def put(
    backend: DiskBackend, si: StorageIndex, name: str = "0", mtime: float | None = None
) -> Path:
    path = backend.layout.share_dir(si) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not read by the walk")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


async def walk(backend: DiskBackend, after: StorageIndex | None = None) -> list[list[StoredIndex]]:
    return [batch async for batch in backend.storage_indexes(after)]


def flat(batches: list[list[StoredIndex]]) -> list[StorageIndex]:
    return [item.storage_index for batch in batches for item in batch]


def test_provided() -> None:
    assert IShareEnumeration.implementedBy(DiskBackend)


@pytest_twisted.ensureDeferred
async def test_batches_are_bounded_and_resume_inside_a_prefix(backend: DiskBackend) -> None:
    many = sorted((in_prefix_aa(i) for i in range(DISK_BATCH * 2 + 40)), key=enumeration_key)
    assert {si.prefix for si in many} == {"aa"}
    others = [StorageIndex(bytes([b]) * 16) for b in (0x08, 0x80, 0xF0, 0xFF)]
    for si in [*many, *others]:
        put(backend, si)
    everything = sorted([*many, *others], key=enumeration_key)
    batches = await walk(backend)
    assert flat(batches) == everything
    assert max(len(b) for b in batches) == DISK_BATCH
    # A batch never spans two prefix directories.
    assert all(len({item.storage_index.prefix for item in b}) == 1 for b in batches)
    for i in (0, 1, DISK_BATCH - 1, DISK_BATCH, len(many) - 1, len(everything) - 1):
        assert flat(await walk(backend, everything[i])) == everything[i + 1 :]


@pytest_twisted.ensureDeferred
async def test_strays_and_incoming_are_skipped(
    backend: DiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = in_prefix_aa(1)
    put(backend, kept, "3")
    put(backend, in_prefix_aa(2), "01")  # not a canonical share number: no share here
    (backend.layout.share_dir(in_prefix_aa(3))).mkdir(parents=True)  # an empty directory
    shares = backend.layout.shares_dir
    (shares / "aa" / "not-a-storage-index").mkdir()
    (shares / "aa" / "stray-file").write_text("x")
    (shares / "ab" / kept.text).mkdir(parents=True)  # under the wrong prefix directory
    (shares / "ab" / kept.text / "0").write_text("x")
    (shares / "readme").write_text("x")
    (shares / "zz9").mkdir()
    upload = backend.layout.incoming_path(in_prefix_aa(4), 0)
    upload.parent.mkdir(parents=True)
    upload.write_text("an upload in progress")
    read: list[str] = []
    real = os.scandir

    def recording(path: Any) -> Any:
        read.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", recording)
    assert flat(await walk(backend)) == [kept]
    monkeypatch.undo()
    assert read and not any(str(backend.layout.incoming_dir) in p for p in read)


@pytest_twisted.ensureDeferred
async def test_leases_modified_is_the_newest_share_file(backend: DiskBackend) -> None:
    si = in_prefix_aa(7)
    put(backend, si, "0", mtime=1_800_000_000)
    put(backend, si, "5", mtime=1_800_000_500)
    put(backend, si, "9.tmp", mtime=1_900_000_000)  # not a share
    (found,) = await walk(backend)
    assert found == [StoredIndex(si, 1_800_000_500.0)]


@pytest_twisted.ensureDeferred
async def test_directory_reads_run_in_the_io_pool(
    backend: DiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(backend, in_prefix_aa(1))
    threads: set[str] = set()
    for name in ("prefixes", "storage_indexes_in", "examine"):
        real = getattr(enumeration, name)

        def spy(*args: object, _real: object = real) -> object:
            threads.add(threading.current_thread().name)
            return _real(*args)  # type: ignore[operator]

        monkeypatch.setattr(enumeration, name, spy)
    assert len(flat(await walk(backend))) == 1
    assert threads and all(t.startswith("tahoe-cloud-disk-") for t in threads)


@pytest_twisted.ensureDeferred
async def test_a_missing_shares_directory_is_an_empty_walk(tmp_path: Path) -> None:
    backend = DiskBackend(storage_dir=tmp_path / "storage")
    await backend.start()
    try:
        os.rmdir(backend.layout.shares_dir / "incoming" / "rewrites")
        os.rmdir(backend.layout.shares_dir / "incoming")
        os.rmdir(backend.layout.shares_dir)
        assert await walk(backend) == []
    finally:
        await backend.stop()
