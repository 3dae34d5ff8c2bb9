"""Crash test: kill -9 the server during a large upload; nothing partial is ever visible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater

from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import NODEID, START_TIME
from tahoe_cloud.vocabulary import StorageIndex
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.makers import make_backend
from tests.s3.moto import MotoServer
from tests.s3.proxy import Recorded, start_proxy

pytestmark = [pytest.mark.s3, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest_twisted.ensureDeferred
async def test_kill_9_during_large_upload(moto: MotoServer, tmp_path: Path) -> None:
    bucket = new_bucket_name()
    setup = make_client(moto, bucket)
    await setup.create_bucket()
    proxy, url = start_proxy(moto.url)
    status = tmp_path / "status"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.s3.crash_child",
            url,
            bucket,
            str(tmp_path / "child"),
            str(status),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    parts_seen: list[Recorded] = []

    def kill_on_part(r: Recorded) -> None:
        if r.operation == "UPLOAD-PART" and not parts_seen:
            parts_seen.append(r)
            os.kill(child.pid, signal.SIGKILL)

    proxy.on_request = kill_on_part
    try:
        for _ in range(600):
            if child.poll() is not None:
                break
            await deferLater(reactor, 0.05)
        assert child.returncode == -signal.SIGKILL, "the child was not killed mid-upload"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        proxy.on_request = None
        await proxy.port.stopListening()  # type: ignore[attr-defined]
    lines = dict(line.split() for line in status.read_text().splitlines() if " " in line)
    small, large = StorageIndex.from_text(lines["small"]), StorageIndex.from_text(lines["large"])
    # The crash left an unfinished multipart upload (invisible) and the lease object.
    assert [u.key async for u in mp.list_multipart_uploads(setup, "")] != []

    clock = Clock()
    clock.advance(START_TIME)
    backend = make_backend(make_client(moto, bucket), tmp_path / "restarted", node_id="crash-node")
    server = StorageServer(backend, nodeid=NODEID, clock=clock)
    await server.start()  # aborts the unfinished multipart upload
    assert [u async for u in mp.list_multipart_uploads(setup, "")] == []
    assert await server.list_immutable_shares(large) == frozenset()
    assert await server.list_immutable_shares(small) == {0}
    assert await server.read_immutable(small, 0, 0, 10_000) == b"small share " * 100
    # The large share's lease object:
    assert await backend.maintenance.collect_orphans(min_age=0) == 1
    keys = sorted(o.key for o in await list_all(setup, ""))
    assert keys == sorted(
        [
            "tahoe-cloud-node",
            f"leases/{small.prefix}/{small.text}",
            f"shares/{small.prefix}/{small.text}/0",
        ]
    )
    await server.stop()
    await setup.close()
