"""Crash test through a real node: kill -9 ``tahoe-cloud run`` while it publishes a large share.

The node stores into moto through the in-process recording proxy; the
upload comes over HTTPS like a client's. When the proxy sees the first
multipart part of the large share, the node process is killed with SIGKILL.
After a restart (with ``s3.clean_at_start``) the large share is not
visible, the earlier share reads back intact, no multipart upload is left
and the bucket holds exactly the marker, the earlier share and its lease.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from benchmarks.loadgen import Connection, Nurl, ProtocolError, Secrets, new_storage_index
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.vocabulary import StorageIndex
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.moto import MotoServer
from tests.s3.proxy import Recorded, start_proxy
from tests.support.s3 import s3_cloud_node

pytestmark = [pytest.mark.s3, pytest.mark.slow]

MiB = 1024 * 1024
LARGE = 40 * MiB  # above the 32 MiB single-PUT threshold: published as multipart


@pytest_twisted.ensureDeferred
async def test_kill_9_node_during_large_upload(moto: MotoServer, tmp_path: Path) -> None:
    bucket = new_bucket_name()
    admin = make_client(moto, bucket)
    await admin.create_bucket()
    proxy, url = start_proxy(moto.url)
    node = s3_cloud_node(tmp_path / "node", moto, bucket, url=url)
    try:
        await deferToThread(node.start)  # threads: the proxy runs in this reactor
        nurl = Nurl.parse(await deferToThread(node.announcement_nurl))
        conn = Connection(nurl)
        small, small_data = new_storage_index(), os.urandom(300_000)
        await deferToThread(conn.upload, small, Secrets.random(), len(small_data), small_data)

        assert node.process is not None
        pid = node.process.popen.pid
        killed: list[Recorded] = []

        def kill_on_first_part(r: Recorded) -> None:
            if r.operation == "UPLOAD-PART" and not killed:
                killed.append(r)
                os.kill(pid, signal.SIGKILL)

        proxy.on_request = kill_on_first_part
        large = new_storage_index()
        with pytest.raises((ProtocolError, OSError)):
            await deferToThread(conn.upload, large, Secrets.random(), LARGE, os.urandom(MiB))
        conn.close()
        proxy.on_request = None
        assert killed and node.process.popen.wait(10) == -signal.SIGKILL
        # The kill hit mid-publish: an unfinished (invisible) multipart upload is left.
        assert [u async for u in mp.list_multipart_uploads(admin, "")] != []

        cfg = node.nodedir / "tahoe.cfg"
        cfg.write_text(cfg.read_text() + "s3.clean_at_start = true\n")
        await deferToThread(node.start)
        conn = Connection(nurl)
        assert await deferToThread(conn.list_shares, large) == set()
        assert await deferToThread(conn.list_shares, small) == {0}
        data = await deferToThread(conn.read, small, 0, 0, len(small_data))
        assert data == small_data
        conn.close()
        assert [u async for u in mp.list_multipart_uploads(admin, "")] == []
        si = StorageIndex.from_text(small)
        keys = sorted(o.key for o in await list_all(admin, ""))
        assert keys == sorted(
            ["tahoe-cloud-node", f"leases/{si.prefix}/{si.text}", f"shares/{si.prefix}/{si.text}/0"]
        )
        assert await deferToThread(node.stop) == 0
    finally:
        if node.process is not None and node.process.running():
            node.process.stop(signal.SIGKILL)
        await proxy.port.stopListening()  # type: ignore[attr-defined]
        await admin.close()
