"""One process per node directory, with real ``tahoe-cloud`` processes (and upstream's).

A second ``run``, or ``check`` while the node runs, used to start the
backend again and empty the running node's ``incoming/``: its upload in
progress then failed with 500.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import cbor2
import pytest

from tahoe_cloud.cli.create_node import find_free_port
from tests.node.test_run import Storage, _secret, make_node, tahoe_cloud
from tests.support.stock_client import (
    CloudNode,
    Process,
    UpstreamNode,
    tahoe_bin,
    wait_for,
)

SI = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
UPLOAD = [_secret("upload-secret", b"u" * 20)]
DATA = bytes(range(100))


def start_upload(storage: Storage) -> None:
    """Allocate share 0 and write its first half: an upload in progress."""
    secrets = [
        _secret("lease-renew-secret", b"r" * 32),
        _secret("lease-cancel-secret", b"c" * 32),
        *UPLOAD,
    ]
    body = cbor2.dumps({"share-numbers": {0}, "allocated-size": len(DATA)})
    status, _ = storage.request(
        "POST", f"immutable/{SI}", body, {"Content-Type": "application/cbor"}, secrets
    )
    assert status == 200
    status, _ = storage.request(
        "PATCH", f"immutable/{SI}/0", DATA[:50], {"Content-Range": "bytes 0-49/*"}, UPLOAD
    )
    assert status == 200


def finish_upload(storage: Storage) -> None:
    status, _ = storage.request(
        "PATCH", f"immutable/{SI}/0", DATA[50:], {"Content-Range": "bytes 50-99/*"}, UPLOAD
    )
    assert status == 201
    status, read = storage.request("GET", f"immutable/{SI}/0", headers={"Range": "bytes=0-99"})
    assert (status, read) == (206, DATA)


def assert_refused(done: object, command: str, nodedir: Path, pid: int) -> None:
    assert done.returncode == 1, done  # type: ignore[attr-defined]
    line = done.stderr.splitlines()[-1]  # type: ignore[attr-defined]
    assert line.startswith(f"tahoe-cloud {command}: the node in {nodedir} is already running")
    assert f"(pid {pid})" in line and f"kill {pid}" in line, line
    assert "Traceback" not in done.stdout  # type: ignore[attr-defined]


@pytest.mark.slow
def test_second_run_and_check_leave_a_running_nodes_upload_alone(tmp_path: Path) -> None:
    node = CloudNode(make_node(tmp_path))
    node.start()
    assert node.process is not None
    pid = node.process.popen.pid
    try:
        storage = Storage(node)
        start_upload(storage)
        assert_refused(tahoe_cloud("check", str(node.nodedir)), "check", node.nodedir, pid)
        assert_refused(tahoe_cloud("run", str(node.nodedir)), "run", node.nodedir, pid)
        finish_upload(storage)
        assert (node.nodedir / "running.process").read_text().split()[0] == str(pid)
    finally:
        assert node.stop() == 0
    assert not (node.nodedir / "running.process").exists()
    done = tahoe_cloud("check", str(node.nodedir))
    assert done.returncode == 0 and done.stdout.startswith("OK: "), done.stderr


@pytest.mark.slow
def test_a_killed_node_restarts(tmp_path: Path) -> None:
    node = CloudNode(make_node(tmp_path))
    node.start()
    assert node.process is not None
    assert node.process.stop(signal.SIGKILL) == -signal.SIGKILL
    stale = (node.nodedir / "running.process").read_text()
    assert stale.split()[0] == str(node.process.popen.pid)  # left behind by the kill
    node.start()  # the kernel dropped the lock with the process
    try:
        finish = Storage(node)
        start_upload(finish)
        finish_upload(finish)
    finally:
        assert node.stop() == 0


@pytest.mark.slow
@pytest.mark.upstream
def test_an_upstream_node_and_tahoe_cloud_exclude_each_other(tmp_path: Path) -> None:
    upstream = UpstreamNode(tmp_path / "storage-node", find_free_port())
    upstream.start()
    assert upstream.process is not None
    try:
        done = tahoe_cloud("check", str(upstream.nodedir))
        assert_refused(done, "check", upstream.nodedir, upstream.process.popen.pid)
    finally:
        upstream.stop()
    cloud = CloudNode(upstream.nodedir)
    cloud.start()
    assert cloud.process is not None
    try:
        second = Process(
            [tahoe_bin(), "run", "--allow-stdin-close", str(upstream.nodedir)],
            tmp_path / "second-upstream.out",
        )
        wait_for(lambda: not second.running(), 60, "upstream's tahoe run to give up")
        assert second.stop() == 1
        assert "ERROR: " in second.output() and "running.process" in second.output()
        assert cloud.process.running()
    finally:
        assert cloud.stop() == 0


def test_a_stale_pid_file_does_not_block(tmp_path: Path) -> None:
    nodedir = make_node(tmp_path)
    # A pid that no process has: upstream's pid file after a crash, say.
    (nodedir / "running.process").write_text("4194304 1700000000.0\n")
    done = tahoe_cloud("check", str(nodedir))
    assert done.returncode == 0, done.stderr
    assert not (nodedir / "running.process").exists()


def test_a_directory_that_cannot_be_locked_is_one_clear_line(tmp_path: Path) -> None:
    nodedir = make_node(tmp_path)
    (nodedir / "running.process.lock").mkdir()  # cannot be opened for writing
    done = tahoe_cloud("run", str(nodedir))
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"tahoe-cloud run: cannot lock the node directory {nodedir}"), line
    assert "NURL" not in done.stdout


def test_a_live_pid_counts_only_with_its_own_start_time(tmp_path: Path) -> None:
    from tahoe_cloud.node.runlock import _create_time

    nodedir = make_node(tmp_path)
    alive = os.getpid()  # this test process: alive, and not the command's
    started = _create_time(alive)
    assert started is not None
    # Upstream's pid file for a node that runs: refused, naming it.
    (nodedir / "running.process").write_text(f"{alive} {started}\n")
    assert_refused(tahoe_cloud("check", str(nodedir)), "check", nodedir, alive)
    assert (nodedir / "running.process").read_text() == f"{alive} {started}\n"
    # The same pid with another start time: reused by another process, so stale.
    (nodedir / "running.process").write_text(f"{alive} {started - 3600}\n")
    done = tahoe_cloud("check", str(nodedir))
    assert done.returncode == 0, done.stderr
