"""One process per node directory on cloud.s3, with real processes and moto.

A second ``run`` of a cloud.s3 node passes the bucket's ownership check (the
node id is the same) and, at start, clears the spool and aborts the
multipart uploads: the running node's uploads in progress were lost.
"""

from __future__ import annotations

import pytest

from tests.node.test_one_process import assert_refused, finish_upload, start_upload
from tests.node.test_run import Storage, tahoe_cloud
from tests.s3.conftest import new_bucket_name
from tests.s3.moto import MotoServer
from tests.support.s3 import s3_cloud_node

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def test_no_second_process_touches_a_running_nodes_bucket(
    moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    node = s3_cloud_node(tmp_path_factory.mktemp("s3lock") / "node", moto, new_bucket_name())
    done = tahoe_cloud("create-container", str(node.nodedir))
    assert done.returncode == 0, done.stderr
    node.start()
    assert node.process is not None
    pid = node.process.popen.pid
    try:
        storage = Storage(node)
        start_upload(storage)
        commands = ("run", "check", "clean", "create-container")
        results = {command: tahoe_cloud(command, str(node.nodedir)) for command in commands}
        finish_upload(storage)  # the upload in progress survived them all
        for command, done in results.items():
            assert_refused(done, command, node.nodedir, pid)
            assert moto.secret_access_key not in done.stdout + done.stderr
    finally:
        assert node.stop() == 0
    for command in ("check", "clean"):
        done = tahoe_cloud(command, str(node.nodedir))
        assert done.returncode == 0, done.stderr
