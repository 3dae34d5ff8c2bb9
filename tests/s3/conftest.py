"""Fixtures for the S3 tests: a fresh bucket per test (moto itself: tests/conftest.py).

Clients, bucket names and the retry policy are in ``tests/support/s3.py``;
they are imported here too, where the S3 tests have always found them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tahoe_cloud.backends.s3.client import S3Client
from tahoe_cloud.testing import run
from tests.s3.moto import MotoServer
from tests.support.s3 import FAST_RETRIES, S3Service, make_client, new_bucket, new_bucket_name

__all__ = ["FAST_RETRIES", "S3Service", "bucket_client", "make_client", "new_bucket_name"]


@pytest.fixture
def bucket_client(moto: MotoServer) -> Iterator[S3Client]:
    """A client on a new, empty bucket of the plain moto server."""
    client = make_client(moto, run(new_bucket(moto)))
    yield client
    run(client.close())
