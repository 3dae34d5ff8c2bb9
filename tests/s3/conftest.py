"""Fixtures for the S3 tests: a fresh bucket per test (moto itself: tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Protocol

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from tahoe_cloud.backends.s3.addressing import BucketAddress, Endpoint
from tahoe_cloud.backends.s3.client import S3Client
from tahoe_cloud.backends.s3.retry import RetryPolicy
from tahoe_cloud.backends.s3.signing import Credentials, Signer
from tests.s3.moto import MotoServer


class S3Service(Protocol):
    """An S3 service the tests reach: moto (``MotoServer``) or Ceph RGW (``RGWServer``)."""

    @property
    def url(self) -> str: ...
    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...


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
    return S3Client(reactor, address, Signer(creds, "us-east-1"), retry_policy=policy)


def new_bucket_name() -> str:
    return f"tc-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def bucket_client(moto: MotoServer) -> Iterator[S3Client]:
    """A client on a new, empty bucket of the plain moto server."""
    client = make_client(moto, new_bucket_name())
    pytest_twisted.blockon(_create(client))
    yield client
    pytest_twisted.blockon(_close(client))


def _create(client: S3Client) -> defer.Deferred[bool]:
    return defer.Deferred.fromCoroutine(client.create_bucket())


def _close(client: S3Client) -> defer.Deferred[None]:
    return defer.Deferred.fromCoroutine(client.close())
