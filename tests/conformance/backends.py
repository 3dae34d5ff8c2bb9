"""How tahoe-cloud's own backends are built for the conformance kit (``tahoe_cloud.testing``).

A maker: given a fresh empty directory, an async context manager that yields
the backend, not yet started. The ``test_*.py`` modules beside this one hand
them to ``BackendSuite`` (cloud.s3's, in ``test_s3.py``, also remember their
bucket to reopen it). A backend that cannot be built here (a service
missing) raises ``BackendUnavailableHere`` and its tests are skipped, with
the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.testing import BackendUnavailableHere
from tests.support.ceph_rgw import RGWUnavailable, in_ci, shared_rgw
from tests.support.s3 import S3Service, new_bucket, s3_backend_on

__all__ = ["BackendUnavailableHere", "disk_backend", "memory_backend", "rgw_backend", "rgw_service"]


@asynccontextmanager
async def memory_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    yield MemoryBackend()


@asynccontextmanager
async def disk_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    """Called again on the same directory, it reopens the same storage."""
    yield DiskBackend(storage_dir=directory / "storage")


def rgw_service() -> S3Service:
    """The Ceph RGW: ``BackendUnavailableHere`` when Ceph is not installed, except under CI=true."""
    try:
        return shared_rgw()
    except RGWUnavailable as e:
        if in_ci():
            raise RuntimeError(f"CI=true needs the RGW tests: {e}") from None
        raise BackendUnavailableHere(str(e)) from None


@asynccontextmanager
async def rgw_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    """cloud.s3 on Ceph RGW, on a bucket of its own (as ``TestS3RGW`` builds it)."""
    service = rgw_service()
    async with s3_backend_on(service, directory, await new_bucket(service)) as backend:
        yield backend
