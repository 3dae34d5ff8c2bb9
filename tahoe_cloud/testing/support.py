"""Small helpers of the conformance suite: identifiers, secrets, a whole upload, a lent backend.

Useful in a backend's own tests too (tahoe-cloud's S3 tests use them).
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.task import Clock

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.server.messages import LeaseSecrets
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import StorageIndex

NODEID = b"\x01" * 20
START_TIME = 1_700_000_000
DAY = 24 * 60 * 60


class SharedBackend:
    """A started backend lent to one server of several: its ``start``/``stop`` do nothing.

    The ``backend`` fixture starts the backend once and stops it once (the
    interface allows no restart of one object), so tests can run servers one
    after another, each stopped with ``StorageServer.stop()``, over the same storage.
    """

    def __init__(self, inner: IStorageBackend) -> None:
        self._inner = inner

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def start_clock() -> Clock:
    """A test clock at ``START_TIME``: lease times are then the same in every run."""
    clock = Clock()
    clock.advance(START_TIME)
    return clock


def make_server(backend: IStorageBackend, clock: Clock, **kwargs: Any) -> StorageServer:
    """A server over the fixture's (already started) backend."""
    return StorageServer(SharedBackend(backend), nodeid=NODEID, clock=clock, **kwargs)  # type: ignore[arg-type]


def new_si() -> StorageIndex:
    return StorageIndex(os.urandom(16))


def lease_secrets() -> LeaseSecrets:
    return LeaseSecrets(renew=os.urandom(32), cancel=os.urandom(32))


def upload_secret() -> bytes:
    return os.urandom(20)


def write_enabler() -> bytes:
    return os.urandom(32)


async def upload_share(
    server: StorageServer,
    si: StorageIndex,
    shnum: int,
    data: bytes,
    *,
    lease: LeaseSecrets | None = None,
) -> None:
    """Allocate and write one whole immutable share."""
    secret = upload_secret()
    result = await server.allocate_buckets(
        si,
        lease=lease or lease_secrets(),
        upload_secret=secret,
        share_numbers=frozenset({shnum}),
        allocated_size=len(data),
    )
    assert shnum in result.allocated
    written = await server.write_immutable(si, shnum, upload_secret=secret, offset=0, data=data)
    assert written.complete
