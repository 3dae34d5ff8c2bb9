"""The backends the conformance suite runs against: one maker per backend.

A maker is an async context manager factory: given a fresh empty directory it
yields an ``IStorageBackend`` (not yet started; the suite's fixture starts and
stops it through ``StorageServer``) and cleans up on exit. Adding a backend to
the whole suite is one entry in ``MAKERS``; an S3 maker would start (or reuse)
the moto server and yield a backend on a bucket of its own, e.g.::

    "cloud.s3": s3_backend,

A maker whose backend cannot be built here (module not written yet, service
missing) raises ``BackendUnavailableHere`` and its tests are skipped, with
the reason, rather than failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend

BackendMaker = Callable[[Path], AbstractAsyncContextManager[IStorageBackend]]


class BackendUnavailableHere(Exception):
    """This backend cannot be built in this environment; skip its tests."""


@asynccontextmanager
async def memory_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    yield MemoryBackend()


@asynccontextmanager
async def disk_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    try:
        from tahoe_cloud.backends.disk import DiskBackend
    except ImportError as e:
        raise BackendUnavailableHere(f"disk backend not importable: {e}") from e
    yield DiskBackend(storage_dir=directory / "storage")


@asynccontextmanager
async def s3_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    try:
        from tests.s3.makers import s3_backend as make
    except ImportError as e:
        raise BackendUnavailableHere(f"cloud.s3 backend not importable: {e}") from e
    async with make(directory) as backend:
        yield backend


@asynccontextmanager
async def rgw_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    """cloud.s3 on Ceph RGW: skipped when Ceph is not installed, except under CI=true."""
    from tests.s3.makers import rgw_backend as make
    from tests.support.ceph_rgw import RGWUnavailable, in_ci

    try:
        context = make(directory)
        backend = await context.__aenter__()
    except RGWUnavailable as e:
        if in_ci():
            raise RuntimeError(f"CI=true needs the RGW tests: {e}") from None
        raise BackendUnavailableHere(str(e)) from None
    try:
        yield backend
    finally:
        await context.__aexit__(None, None, None)


MAKERS: dict[str, BackendMaker] = {
    "memory": memory_backend,
    "disk": disk_backend,
    "cloud.s3": s3_backend,
    "cloud.s3-rgw": rgw_backend,
}

# pytest marks per maker, to select them (``-m rgw``) or leave them out (``-m "not rgw"``).
MARKS = {"cloud.s3-rgw": pytest.mark.rgw}
