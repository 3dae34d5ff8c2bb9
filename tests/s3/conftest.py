"""Fixtures for the S3 tests: a fresh bucket per test (moto itself: tests/conftest.py).

``bucket_client`` and ``service`` run each test twice: on moto, and on the
in-memory S3 of ``memory_s3`` (the fast tier: the real client code, no
process, no socket). Clients, bucket names and the retry policy are in
``tests/support/s3.py``; they are imported here too, where the S3 tests find them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from attrs import frozen
from twisted.internet import reactor

from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.testing import run
from tests.s3.memory_s3 import MemoryAgent, MemoryS3
from tests.s3.moto import MotoServer
from tests.support.s3 import FAST_RETRIES, S3Service, make_client, new_bucket, new_bucket_name

__all__ = [
    "FAST_RETRIES",
    "MemoryService",
    "S3Service",
    "bucket_client",
    "make_client",
    "memory_service",
    "new_bucket_name",
    "service",
]


@frozen
class MemoryService:
    """The in-memory S3 (``memory_s3``), reached through its ``IAgent``: no socket."""

    s3: MemoryS3
    agent: MemoryAgent
    url: str = "http://memory-s3.invalid:80"
    access_key_id: str = "memory-key-id"
    secret_access_key: str = "memory-secret"


def memory_service() -> MemoryService:
    s3 = MemoryS3()
    return MemoryService(s3, MemoryAgent(s3, reactor))


@pytest.fixture(params=["moto", "memory"])
def service(request: pytest.FixtureRequest) -> S3Service:
    """The plain moto server, or a fresh in-memory S3."""
    if request.param == "memory":
        return memory_service()
    moto: MotoServer = request.getfixturevalue("moto")
    return moto


@pytest.fixture
def bucket_client(service: S3Service) -> Iterator[S3Client]:
    """A client on a new, empty bucket of moto or of the in-memory S3."""
    client = make_client(service, run(new_bucket(service)))
    yield client
    run(client.close())
