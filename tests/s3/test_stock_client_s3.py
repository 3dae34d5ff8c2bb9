"""A stock Tahoe-LAFS 1.20 client against two ``tahoe-cloud run`` nodes on cloud.s3.

The nodes store their shares in moto through a fault-injecting proxy run as
its own process, with 10% of S3 requests failing (503 SlowDown, 500,
connection resets before and after S3 applied the request, slow answers).
The stock client still uploads and downloads everything; ``deep-check
--verify`` reads and checks every share; a restart loses nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.moto import MotoServer
from tests.support.stock_client import CloudNode, StockClient

pytestmark = [pytest.mark.upstream, pytest.mark.slow, pytest.mark.s3]

REPO = Path(__file__).resolve().parents[2]
FAULT_RATE = 0.10


def s3_node(base: Path, i: int, url: str, bucket: str) -> CloudNode:
    """A node made by ``create-node --backend cloud.s3`` (secret on standard input)."""
    node = CloudNode(
        base / f"node{i}",
        nickname=f"s3-{i}",
        backend="cloud.s3",
        create_args=[
            "--s3-bucket", bucket, "--s3-access-key-id", "testing-key-id", "--s3-url", url,
            "--s3-prefix", f"node{i}",
        ],
        stdin=b"testing-secret\n",
    )  # fmt: skip
    cfg = node.nodedir / "tahoe.cfg"
    cfg.write_text(cfg.read_text() + "s3.request_timeout = 20\n")
    return node


class S3Grid:
    def __init__(self, base: Path, moto: MotoServer) -> None:
        self.base = base
        self.bucket = new_bucket_name()
        import pytest_twisted
        from twisted.internet import defer

        client = make_client(moto, self.bucket)
        pytest_twisted.blockon(defer.Deferred.fromCoroutine(client.create_bucket()))
        pytest_twisted.blockon(defer.Deferred.fromCoroutine(client.close()))
        self.proxy = subprocess.Popen(
            [sys.executable, "-m", "tests.s3.run_proxy", moto.url, str(FAULT_RATE), "5"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proxy.stdout is not None
        url = f"http://127.0.0.1:{int(self.proxy.stdout.readline())}"
        self.nodes = []
        for i in (1, 2):
            node = s3_node(base, i, url, self.bucket)
            node.start()
            self.nodes.append(node)
        self.client = StockClient(base / "client", needed=3, happy=2, total=10)
        self.client.set_servers(node.announcement() for node in self.nodes)
        self.client.start()
        self.client.tahoe("create-alias", "s3")
        self.stored: dict[str, bytes] = {}

    def put(self, data: bytes, *extra: str) -> str:
        path = self.base / f"upload-{len(self.stored)}"
        path.write_bytes(data)
        cap = self.client.tahoe("put", *extra, str(path)).strip().splitlines()[-1]
        self.stored[cap] = data
        return cap

    def get(self, cap: str) -> bytes:
        out = self.base / "download"
        self.client.tahoe("get", cap, str(out))
        return out.read_bytes()

    def stop(self) -> dict[str, object]:
        self.client.stop()
        for node in self.nodes:
            if node.process is not None and node.process.running():
                node.stop()
        assert self.proxy.stdin is not None and self.proxy.stdout is not None
        self.proxy.stdin.close()
        summary = self.proxy.stdout.readline()
        self.proxy.wait(timeout=30)
        return json.loads(summary) if summary else {}


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory, moto: MotoServer) -> Iterator[S3Grid]:
    g = S3Grid(tmp_path_factory.mktemp("s3grid"), moto)
    try:
        yield g
    finally:
        summary = g.stop()
        print("proxy:", summary)


@pytest.mark.parametrize("size", [1_000_000, 20_000_000])
def test_put_get(grid: S3Grid, size: int) -> None:
    data = os.urandom(size)
    cap = grid.put(data)
    assert grid.get(cap) == data


def test_directories(grid: S3Grid) -> None:
    grid.client.tahoe("mkdir", "s3:docs")
    local = grid.base / "note.txt"
    local.write_bytes(b"kept in S3\n")
    grid.client.tahoe("cp", str(local), "s3:docs/note.txt")
    assert grid.client.tahoe("ls", "s3:docs").split() == ["note.txt"]
    assert grid.client.tahoe("get", "s3:docs/note.txt") == "kept in S3\n"


def test_mutable_overwrite(grid: S3Grid) -> None:
    first, second = os.urandom(5000), os.urandom(300_000)
    cap = grid.put(first, "--mutable")
    assert grid.get(cap) == first
    path = grid.base / "second"
    path.write_bytes(second)
    grid.client.tahoe("put", str(path), cap)
    grid.stored[cap] = second
    assert grid.get(cap) == second


def test_deep_check_verify_add_lease(grid: S3Grid) -> None:
    out = grid.client.tahoe("deep-check", "--verify", "--add-lease", "s3:")
    summary = out.strip().splitlines()[-1]
    checked = int(summary.split()[1])
    assert checked >= 3 and f"{checked} healthy" in summary, out


def test_restart_reads_everything(grid: S3Grid) -> None:
    for node in grid.nodes:
        assert node.stop() == 0
    for node in grid.nodes:
        node.start()
    grid.client.wait_connected(2)
    for cap, data in grid.stored.items():
        assert grid.get(cap) == data
    for cap in grid.stored:
        report = json.loads(grid.client.tahoe("check", "--verify", "--raw", cap))
        assert report["results"]["healthy"] is True, report
