"""``s3.quota``: bytes received for uploads in progress count against the space left.

The core's space accountant subtracts only what uploads in progress are
still owed (allocated minus received), trusting the backend to count what
was received (as the disk backend's free space does). S3's ``used`` grows
at publish, so the bytes sitting in the spool are subtracted separately.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.testing.support import START_TIME, lease_secrets, new_si, upload_share
from tests.s3.conftest import S3Service
from tests.s3.test_backend import Node, bucket

pytestmark = pytest.mark.s3

__all__ = ["bucket"]  # the fixture, imported for the test below


@pytest_twisted.ensureDeferred
async def test_spooled_bytes_are_not_offered_twice(
    service: S3Service, bucket: str, tmp_path: Path
) -> None:
    clock = Clock()
    clock.advance(START_TIME)
    n = Node(service, bucket, tmp_path, clock, quota=1000)
    await n.server.start()
    try:
        si, secret = new_si(), os.urandom(32)
        first = await n.server.allocate_buckets(
            si,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({0}),
            allocated_size=1000,
        )
        assert first.allocated == {0}
        await n.server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"x" * 900)
        second = await n.server.allocate_buckets(
            new_si(),
            lease=lease_secrets(),
            upload_secret=os.urandom(32),
            share_numbers=frozenset({0}),
            allocated_size=900,
        )
        assert second.allocated == frozenset()
        assert (await n.backend.available_space()) == 100  # 900 spooled, not yet published
        # Publishing moves the bytes from "spooled" to "used": the sum is unchanged.
        await n.server.write_immutable(si, 0, upload_secret=secret, offset=900, data=b"y" * 100)
        assert n.backend.store.space.spooled == 0 and (await n.backend.available_space()) == 0
        # An aborted upload gives its spooled bytes back.
        q = Node(service, bucket, tmp_path / "q", clock, quota=10_000, override_marker=True)
        await q.server.start()
        si2, secret2 = new_si(), os.urandom(32)
        await q.server.allocate_buckets(
            si2,
            lease=lease_secrets(),
            upload_secret=secret2,
            share_numbers=frozenset({3}),
            allocated_size=500,
        )
        before = await q.backend.available_space()
        await q.server.write_immutable(si2, 3, upload_secret=secret2, offset=0, data=b"z" * 300)
        assert (await q.backend.available_space()) == before - 300
        await q.server.abort_immutable(si2, 3, upload_secret=secret2)
        assert (await q.backend.available_space()) == before and q.backend.store.space.spooled == 0
        await upload_share(q.server, new_si(), 1, b"w" * 200)
        assert (await q.backend.available_space()) == before - 200
        await q.server.stop()
    finally:
        await n.server.stop()
