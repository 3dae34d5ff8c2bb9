"""How tahoe-cloud's own backends are built for the conformance kit (``tahoe_cloud.testing``).

One maker per backend family: given a fresh empty directory, an async context
manager that yields the backend, not yet started. The ``test_*.py`` modules
beside this one each hand one of them to ``BackendSuite``. A maker whose
backend cannot be built here (a service missing) raises
``BackendUnavailableHere`` and its tests are skipped, with the reason.
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

__all__ = ["BackendUnavailableHere", "disk_backend", "memory_backend", "rgw_backend", "s3_backend"]


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
async def s3_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    """cloud.s3 on the process's moto server, on a bucket of its own."""
    from tests.s3.makers import shared_moto

    service = shared_moto()
    async with s3_backend_on(service, directory, await new_bucket(service)) as backend:
        yield backend


@asynccontextmanager
async def rgw_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    """cloud.s3 on Ceph RGW, on a bucket of its own."""
    service = rgw_service()
    async with s3_backend_on(service, directory, await new_bucket(service)) as backend:
        yield backend
