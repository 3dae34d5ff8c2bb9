"""Fixtures for the S3 tests: a fresh bucket per test (moto itself: tests/conftest.py).

``bucket_client`` and ``service`` run each test twice: on moto, and on the
in-memory S3 of ``memory_s3`` (the fast tier: the real client code, no
process, no socket).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Protocol

import pytest
import pytest_twisted
from attrs import frozen
from twisted.internet import defer, reactor

from tahoe_cloud.backends.s3.objectstore.addressing import BucketAddress, Endpoint
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.retry import RetryPolicy
from tahoe_cloud.backends.s3.objectstore.signing import Credentials, Signer
from tahoe_cloud.backends.s3.objectstore.transport import Transport
from tests.s3.memory_s3 import MemoryAgent, MemoryS3
from tests.s3.moto import MotoServer


class S3Service(Protocol):
    """An S3 service the tests reach: moto (``MotoServer``) or Ceph RGW (``RGWServer``)."""

    @property
    def url(self) -> str: ...
    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...


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


FAST_RETRIES = RetryPolicy(max_attempts=4, max_total_time=5.0, base_delay=0.01, max_delay=0.05)


def make_client(
    server: S3Service,
    bucket: str,
    *,
    secret: str | None = None,
    key_id: str | None = None,
    token: str | None = None,
    url: str | None = None,
    policy: RetryPolicy = FAST_RETRIES,
) -> S3Client:
    creds = Credentials(key_id or server.access_key_id, secret or server.secret_access_key, token)
    address = BucketAddress.create(Endpoint.parse(url or server.url), bucket, "path")
    transport = None
    if isinstance(server, MemoryService):
        transport = Transport(reactor, agent=server.agent)
    return S3Client(
        reactor, address, Signer(creds, "us-east-1"), transport=transport, retry_policy=policy
    )


def new_bucket_name() -> str:
    return f"tc-{uuid.uuid4().hex[:20]}"


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
    client = make_client(service, new_bucket_name())
    pytest_twisted.blockon(_create(client))
    yield client
    pytest_twisted.blockon(_close(client))


def _create(client: S3Client) -> defer.Deferred[bool]:
    return defer.Deferred.fromCoroutine(client.create_bucket())


def _close(client: S3Client) -> defer.Deferred[None]:
    return defer.Deferred.fromCoroutine(client.close())
