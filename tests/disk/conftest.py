"""Fixtures for the disk backend tests: a started DiskBackend on a tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_twisted

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.vocabulary import StorageIndex


@pytest_twisted.async_yield_fixture
async def backend(tmp_path: Path) -> AsyncIterator[DiskBackend]:
    b = DiskBackend(storage_dir=tmp_path / "storage")
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
def si() -> StorageIndex:
    return StorageIndex(b"0123456789abcdef")
