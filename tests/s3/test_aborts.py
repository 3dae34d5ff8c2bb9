"""A multipart upload whose abort failed during an outage does not stay open.

The node retries the abort in the background; ``tahoe-cloud clean`` finds
any unfinished upload of the node's prefix that no publish is using (by
its age when run beside a live node).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from tahoe_cloud.backends.s3 import commands as commands_module
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.listing import iso_timestamp
from tahoe_cloud.cli.clean import clean
from tahoe_cloud.errors import BackendError
from tahoe_cloud.testing.support import lease_secrets, new_si
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.makers import make_backend
from tests.s3.moto import MotoServer
from tests.s3.proxy import FaultProxy, Recorded
from tests.s3.test_commands import s3_node
from tests.s3.test_proxy import proxied, server_on

pytestmark = pytest.mark.s3

__all__ = ["proxied"]

MiB = 1024 * 1024
ATTEMPTS = 8  # server_on's retry policy


def _is(operation: str) -> Callable[[Recorded], bool]:
    return lambda r: r.operation == operation


@pytest_twisted.ensureDeferred
async def test_a_failed_abort_is_retried_in_the_background(
    moto: MotoServer, proxied: tuple[FaultProxy, str, str], tmp_path: Path
) -> None:
    proxy, url, bucket = proxied
    server = server_on(
        moto,
        url,
        bucket,
        tmp_path,
        keys=KeyLayout("ab/"),
        multipart_threshold=mp.MIN_PART_SIZE,
        part_size=mp.MIN_PART_SIZE,
        abort_retry_delays=(0.2, 0.2, 0.2),
    )
    await server.start()
    direct = make_client(moto, bucket)
    try:
        si, secret, data = new_si(), os.urandom(32), os.urandom(mp.MIN_PART_SIZE + MiB)
        result = await server.allocate_buckets(
            si,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({0}),
            allocated_size=len(data),
        )
        assert result.allocated == {0}
        # An outage: completing fails, and so does the abort that follows.
        for _ in range(ATTEMPTS):
            proxy.arm(_is("MULTIPART-COMPLETE"), "slowdown")
            proxy.arm(_is("MULTIPART-ABORT"), "error500")
        with pytest.raises(BackendError) as failed:
            await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data)
        assert failed.value.transient  # answered 503
        assert proxy.armed == 0
        assert len([u async for u in mp.list_multipart_uploads(direct, "ab/")]) == 1
        # The outage ends: the node aborts it by itself.
        for _ in range(50):
            await deferLater(reactor, 0.1)
            if not [u async for u in mp.list_multipart_uploads(direct, "ab/")]:
                break
        assert [u async for u in mp.list_multipart_uploads(direct, "ab/")] == []
        assert len(server.backend.aborts) == 0  # type: ignore[attr-defined]
        # The upload itself is still there: the client's retried write publishes it.
        done = await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=data)
        assert done.complete
        assert await server.read_immutable(si, 0, 0, len(data)) == data
    finally:
        await server.stop()
        await direct.close()


@pytest_twisted.ensureDeferred
async def test_retries_end_when_the_node_stops(
    moto: MotoServer, proxied: tuple[FaultProxy, str, str], tmp_path: Path
) -> None:
    _proxy, url, bucket = proxied
    server = server_on(moto, url, bucket, tmp_path, keys=KeyLayout("st/"))
    backend = server.backend
    await server.start()
    backend.aborts.add("st/shares/aa/x/0", "no-such-upload")  # type: ignore[attr-defined]
    assert len(backend.aborts) == 1  # type: ignore[attr-defined]
    await server.stop()
    assert len(backend.aborts) == 0  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred
async def test_stale_uploads_are_found_by_age_and_never_in_progress(
    moto: MotoServer, tmp_path: Path
) -> None:
    bucket = new_bucket_name()
    client = make_client(moto, bucket)
    await client.create_bucket()
    keys = KeyLayout("sw/")
    key = keys.immutable(new_si(), 0)
    await mp.create_multipart_upload(client, key)
    busy = await mp.create_multipart_upload(client, key)
    foreign = await mp.create_multipart_upload(client, "other/shares/aa/b/0")
    # The service's own clock says when they began (moto: a fixed date).
    initiated = max(
        [iso_timestamp(u.initiated) async for u in mp.list_multipart_uploads(client, "")]
    )
    # A minute on: young, maybe in progress in a running node.
    soon = make_backend(client, tmp_path, keys=keys, clock=lambda: initiated + 60)
    assert await soon.maintenance.abort_stale_uploads() == 0
    # Two hours on: the old one goes; one this process is publishing stays.
    later = make_backend(client, tmp_path, keys=keys, clock=lambda: initiated + 7200)
    assert await later.maintenance.abort_stale_uploads(publishing={busy}) == 1
    left = {u.upload_id async for u in mp.list_multipart_uploads(client, "")}
    assert left == {busy, foreign}
    await client.close()


@pytest_twisted.ensureDeferred
async def test_clean_aborts_unfinished_uploads(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket_name()
    client = make_client(moto, bucket)
    await client.create_bucket()
    nodedir = s3_node(tmp_path, moto, bucket, monkeypatch=monkeypatch)
    await mp.create_multipart_upload(client, KeyLayout().immutable(new_si(), 3))
    where = f"bucket {bucket!r}"
    monkeypatch.setattr(commands_module, "ORPHAN_MIN_AGE", -5.0)  # old enough, whatever the date
    line = await clean(nodedir)
    assert (
        line
        == f"Deleted 0 orphaned object(s) from {where}. Aborted 1 unfinished multipart upload(s)."
    )
    assert [u async for u in mp.list_multipart_uploads(client, "")] == []
    await client.close()
