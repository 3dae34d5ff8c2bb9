"""Build an ``S3Backend`` on moto or Ceph RGW for tests, including the conformance suite's makers.

The conformance suite's fixtures are function-scoped, so the moto server used
by ``s3_backend`` (and the RGW cluster used by ``rgw_backend``) is started
once per test process on first use and stopped at exit; each backend gets a
bucket of its own.
"""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import fields
from twisted.internet import reactor

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.s3.backend import S3Backend
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.settings import BackendSettings, Tuning
from tests.s3.moto import MotoServer, run_moto
from tests.support.ceph_rgw import shared_rgw

if TYPE_CHECKING:
    from tests.s3.conftest import S3Service

_shared: MotoServer | None = None
_stack = contextlib.ExitStack()
atexit.register(_stack.close)


def shared_moto() -> MotoServer:
    """One plain moto server for this test process (started on first use)."""
    global _shared
    if _shared is None:
        _shared = _stack.enter_context(run_moto())
    return _shared


_TUNING = {f.name for f in fields(Tuning)}
_SETTINGS = {f.name for f in fields(BackendSettings)} - {"tuning"}


def make_backend(client: S3Client, directory: Path, **kwargs: Any) -> S3Backend:
    """An ``S3Backend`` spooling in ``directory``; ``kwargs`` name any field of
    ``BackendSettings`` or ``Tuning``, or ``clock`` and ``config_error``."""
    kwargs.setdefault("node_id", "test-node")
    tuning = Tuning(**{k: kwargs.pop(k) for k in list(kwargs) if k in _TUNING})
    settings = BackendSettings(
        tuning=tuning, **{k: kwargs.pop(k) for k in list(kwargs) if k in _SETTINGS}
    )
    return S3Backend(client, settings, spool_dir=directory / "s3-spool", **kwargs)


async def _backend_on_new_bucket(service: S3Service, directory: Path) -> S3Backend:
    """A backend on a new bucket, with small chunks to exercise them."""
    from tests.s3.conftest import make_client, new_bucket_name

    client = make_client(service, new_bucket_name())
    await client.create_bucket()
    return make_backend(
        client, directory, keys=KeyLayout("some/prefix/"), inline_limit=1024, chunk_size=4096
    )


@asynccontextmanager
async def s3_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    """The conformance suite's maker on moto."""
    yield await _backend_on_new_bucket(shared_moto(), directory)


@asynccontextmanager
async def rgw_backend(directory: Path) -> AsyncIterator[IStorageBackend]:
    """The conformance suite's maker on Ceph RGW (raises ``RGWUnavailable`` when not installed)."""
    yield await _backend_on_new_bucket(shared_rgw(), directory)


__all__ = ["make_backend", "reactor", "rgw_backend", "s3_backend", "shared_moto"]
