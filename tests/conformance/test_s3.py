"""The conformance kit on cloud.s3: on moto, on Ceph RGW (``-m rgw`` selects those), and on
the in-memory S3 (the fast tier: the real client code, no process, no socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.testing import BackendContext, BackendSuite
from tests.conformance.backends import rgw_service
from tests.s3.conftest import MemoryService, memory_service
from tests.support.s3 import S3Service, new_bucket, s3_backend_on


class S3Suite(BackendSuite):
    """Each backend on a new bucket; ``reopen_backend`` opens the last one again."""

    bucket: str

    def service(self) -> S3Service:
        raise NotImplementedError

    @asynccontextmanager
    async def make_backend(self, directory: Path) -> AsyncIterator[IStorageBackend]:
        service = self.service()
        self.bucket = await new_bucket(service)
        async with s3_backend_on(service, directory, self.bucket) as backend:
            yield backend

    def reopen_backend(self, directory: Path) -> BackendContext:
        return s3_backend_on(self.service(), directory, self.bucket)


class TestS3(S3Suite):
    def service(self) -> S3Service:
        from tests.s3.makers import shared_moto

        return shared_moto()


@pytest.mark.rgw
class TestS3RGW(S3Suite):
    def service(self) -> S3Service:
        return rgw_service()


class TestS3Memory(S3Suite):
    memory: MemoryService | None = None

    def service(self) -> S3Service:
        if self.memory is None:
            self.memory = memory_service()  # one per test, kept for reopen_backend
        return self.memory
