"""A full or failing spool: writes land whole or fail retryably; allocate counts the spool's room.

Short writes and ENOSPC are injected into ``os.pwrite`` (runs anywhere);
where the test runs as root, a real 2 MiB tmpfs spool checks the same
against the kernel's own ENOSPC and ``statvfs``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3 import spool
from tahoe_cloud.backends.s3.objectstore.objects import get_object
from tahoe_cloud.errors import BackendUnavailable
from tahoe_cloud.testing.support import START_TIME, lease_secrets, new_si, upload_share
from tahoe_cloud.vocabulary import StorageIndex
from tests.s3.conftest import S3Service
from tests.s3.test_backend import Node, bucket

pytestmark = pytest.mark.s3

__all__ = ["bucket"]

MiB = 1024 * 1024


def _node(service: S3Service, bucket: str, tmp: Path) -> Node:
    clock = Clock()
    clock.advance(START_TIME)
    return Node(service, bucket, tmp, clock)


async def _allocate(n: Node, size: int, shnum: int = 0) -> tuple[StorageIndex, bytes, bool]:
    si, secret = new_si(), os.urandom(32)
    result = await n.server.allocate_buckets(
        si,
        lease=lease_secrets(),
        upload_secret=secret,
        share_numbers=frozenset({shnum}),
        allocated_size=size,
    )
    return si, secret, shnum in result.allocated


async def _stored_intact(n: Node, si: StorageIndex, data: bytes) -> None:
    """The share reads back, and the object's stored MD5 matches its bytes."""
    assert await n.server.read_immutable(si, 0, 0, len(data)) == data
    key = n.backend.keys.immutable(si, 0)
    assert (await get_object(n.client, key)).body == data  # checked against the stored MD5


@pytest_twisted.ensureDeferred
async def test_short_writes_are_completed(
    service: S3Service, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system storing fewer bytes than asked: the rest is written, not left as zeros."""
    real = os.pwrite

    def short(fd: int, data: memoryview, offset: int) -> int:
        return real(fd, data[:1000], offset)

    monkeypatch.setattr(os, "pwrite", short)
    n = _node(service, bucket, tmp_path)
    await n.server.start()
    try:
        si, data = new_si(), os.urandom(300_000)
        await upload_share(n.server, si, 0, data)
        await _stored_intact(n, si, data)
    finally:
        await n.server.stop()


@pytest_twisted.ensureDeferred
async def test_a_spool_write_cut_short_fails_and_can_be_sent_again(
    service: S3Service, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half stored, then ENOSPC: the write fails (503), nothing is recorded, a resend completes."""
    real = os.pwrite
    calls: list[int] = []

    def filling(fd: int, data: memoryview, offset: int) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, data[: len(data) // 2], offset)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    n = _node(service, bucket, tmp_path)
    await n.server.start()
    try:
        data = os.urandom(200_000)
        si, secret, ok = await _allocate(n, len(data))
        assert ok
        monkeypatch.setattr(os, "pwrite", filling)
        with pytest.raises(BackendUnavailable, match="spool is full"):
            await n.server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data)
        assert n.backend.store.space.spooled == 0  # nothing counted as received
        monkeypatch.setattr(os, "pwrite", real)
        # The same bytes again: accepted (no 409), and the share completes intact.
        done = await n.server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data)
        assert done.complete
        await _stored_intact(n, si, data)
    finally:
        await n.server.stop()


@pytest_twisted.ensureDeferred
async def test_allocate_counts_the_spool_free_space(
    service: S3Service, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three 8 MiB uploads into a 20 MB spool: the third is refused at allocate (as upstream)."""
    room = [20_000_000]
    monkeypatch.setattr(spool, "free_space", lambda _path: room[0])
    n = _node(service, bucket, tmp_path)
    await n.server.start()
    try:
        assert await n.backend.available_space() == 20_000_000
        first = await _allocate(n, 8 * MiB)
        second = await _allocate(n, 8 * MiB)
        third = await _allocate(n, 8 * MiB)
        assert (first[2], second[2], third[2]) == (True, True, False)
        version = await n.server.get_version()
        assert version.available_space == 20_000_000 - 16 * MiB
        # Bytes received sit in the spool (its free space shrinks), no longer owed:
        # the figure stays the same.
        si, secret, _ = first
        await n.server.write_immutable(si, 0, upload_secret=secret, offset=0, data=bytes(MiB))
        room[0] -= MiB
        assert (await n.server.get_version()).available_space == 20_000_000 - 16 * MiB
    finally:
        await n.server.stop()


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest_twisted.ensureDeferred
async def test_a_real_small_spool(service: S3Service, bucket: str, tmp_path: Path) -> None:
    """A 2 MiB tmpfs spool: allocate refuses what cannot fit; a write hitting ENOSPC
    fails and succeeds once there is room again."""
    with _tmpfs(tmp_path / "small", "2m") as small:
        n = _node(service, bucket, small)
        await n.server.start()
        try:
            space = await n.backend.available_space()
            assert 1 * MiB < space <= 2 * MiB
            assert not (await _allocate(n, 3 * MiB))[2]
            data = os.urandom(600_000)
            si, secret, ok = await _allocate(n, len(data))
            assert ok
            # Something else fills the file system under the upload.
            filler = small / "filler"
            with filler.open("wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(bytes(64 * 1024))
                    f.flush()
            with pytest.raises(BackendUnavailable):
                await n.server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data)
            filler.unlink()
            done = await n.server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data)
            assert done.complete
            await _stored_intact(n, si, data)
        finally:
            await n.server.stop()


@pytest_twisted.ensureDeferred
async def test_three_8_mib_uploads_into_a_20_mib_spool(
    service: S3Service, bucket: str, tmp_path: Path
) -> None:
    """The reported case on a real file system: two are allocated and complete, the
    third is refused at allocate (all three used to fail mid-upload with 500)."""
    with _tmpfs(tmp_path / "spool20", "20m") as small:
        n = _node(service, bucket, small)
        await n.server.start()
        try:
            uploads = [await _allocate(n, 8 * MiB) for _ in range(3)]
            assert [ok for _, _, ok in uploads] == [True, True, False]
            for si, secret, _ in uploads[:2]:
                data = os.urandom(8 * MiB)
                for off in range(0, len(data), MiB):
                    piece = data[off : off + MiB]
                    await n.server.write_immutable(
                        si, 0, upload_secret=secret, offset=off, data=piece
                    )
                await _stored_intact(n, si, data)
        finally:
            await n.server.stop()
