"""Shared pytest configuration.

Twisted's reactor runs under pytest-twisted. The moto S3 servers are
session-scoped and shared by every folder that needs one (the S3 tests, the
conformance suite and the stock-client interop tests): each test works in a
bucket or key prefix of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3.makers import shared_moto
from tests.s3.moto import MotoServer, run_moto


@pytest.fixture(scope="session")
def moto() -> MotoServer:
    """The process's plain moto server (no signature checking), a subprocess on loopback.

    The same one the conformance suite's cloud.s3 maker uses, stopped at exit.
    """
    return shared_moto()


@pytest.fixture(scope="session")
def moto_auth() -> Iterator[MotoServer]:
    """A moto server that checks request signatures."""
    with run_moto(auth=True) as server:
        yield server
