"""Shared pytest configuration.

Twisted's reactor runs under pytest-twisted. The moto S3 servers (and the Ceph RGW) are
session-scoped and shared by every folder that needs one (the S3 tests, the
conformance suite and the stock-client interop tests): each test works in a
bucket or key prefix of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3.makers import shared_moto
from tests.s3.moto import MotoServer, run_moto
from tests.support.ceph_rgw import RGWServer, require_rgw


@pytest.fixture(scope="session")
def moto() -> MotoServer:
    """The process's plain moto server (no signature checking), a subprocess on loopback.

    The same one the conformance suite's cloud.s3 tests use, stopped at exit.
    """
    return shared_moto()


@pytest.fixture(scope="session")
def moto_auth() -> Iterator[MotoServer]:
    """A moto server that checks request signatures."""
    with run_moto(auth=True) as server:
        yield server


@pytest.fixture(scope="session")
def rgw() -> RGWServer:
    """The process's Ceph RGW (one-node cluster on loopback), started on first use.

    Skipped with the reason when Ceph is not installed, failed instead under CI=true.
    """
    return require_rgw()
