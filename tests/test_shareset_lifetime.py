"""A share set lives for one ``async with backend.shareset(si)`` block, and no longer.

The disk backend's share set remembers its listing and parsed mutable
containers for the operation it serves; used after the block it could answer
from stale memory, so it (and the memory backend, to keep callers honest)
refuses instead. An upload started inside the block outlives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_twisted

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.backends.interfaces import IStorageBackend, ShareSetClosed
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.vocabulary import ShareKind, StorageIndex, WriteEnabler, WriteVector

SI = StorageIndex(b"lifetime-si-0123")
ENABLER = WriteEnabler(nodeid=b"\x01" * 20, secret=b"\x02" * 32)


@pytest_twisted.async_yield_fixture(params=["memory", "disk"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IStorageBackend]:
    made: IStorageBackend = (
        MemoryBackend() if request.param == "memory" else DiskBackend(storage_dir=tmp_path)
    )
    await made.start()
    yield made
    await made.stop()


@pytest_twisted.ensureDeferred
async def test_a_share_set_refuses_use_after_its_block(backend: IStorageBackend) -> None:
    async with backend.shareset(SI) as shares:
        share = shares.new_mutable(0, ENABLER)
        await share.write([WriteVector(0, b"inside")], None)
        assert await shares.list_shares() == {0: ShareKind.MUTABLE}
    with pytest.raises(ShareSetClosed):
        await shares.list_shares()
    with pytest.raises(ShareSetClosed):
        await shares.open_mutable(0)
    with pytest.raises(ShareSetClosed):
        await shares.read_leases()
    with pytest.raises(ShareSetClosed):
        shares.new_mutable(1, ENABLER)
    # A new block sees the shares as they are.
    async with backend.shareset(SI) as fresh:
        assert await (await fresh.open_mutable(0)).read(0, 10) == b"inside"


@pytest_twisted.ensureDeferred
async def test_a_share_set_is_closed_when_its_block_fails(backend: IStorageBackend) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with backend.shareset(SI) as shares:
            raise RuntimeError("boom")
    with pytest.raises(ShareSetClosed):
        await shares.list_shares()


@pytest_twisted.ensureDeferred
async def test_disk_mutable_handles_close_with_their_share_set(tmp_path: Path) -> None:
    backend = DiskBackend(storage_dir=tmp_path)
    await backend.start()
    try:
        async with backend.shareset(SI) as shares:
            await shares.new_mutable(0, ENABLER).write([WriteVector(0, b"cached")], None)
            await shares.list_shares()  # remembers the parsed container
            handle = await shares.open_mutable(0)
            assert await handle.read(0, 6) == b"cached"
        with pytest.raises(ShareSetClosed):
            await handle.read(0, 6)
        with pytest.raises(ShareSetClosed):
            await handle.write([WriteVector(0, b"stale!")], None)
        async with backend.shareset(SI) as shares:
            assert await (await shares.open_mutable(0)).read(0, 6) == b"cached"
    finally:
        await backend.stop()


@pytest_twisted.ensureDeferred
async def test_an_upload_outlives_the_block_that_started_it(backend: IStorageBackend) -> None:
    async with backend.shareset(SI) as shares:
        upload = await shares.start_immutable_upload(3, 4)
    await upload.write(0, b"data")
    await upload.publish([])
    async with backend.shareset(SI) as shares:
        assert await shares.list_shares() == {3: ShareKind.IMMUTABLE}
        assert await (await shares.open_immutable(3)).read(0, 10) == b"data"
