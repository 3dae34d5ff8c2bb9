"""A small grid for the stock-client tests: two tahoe-cloud nodes and one stock client.

The same grid is built for every backend the interop suite covers, so one set
of tests speaks for all of them:

- ``disk``: two nodes with the default disk backend;
- ``cloud.s3``: two nodes made by ``create-node --backend cloud.s3`` (secret on
  standard input), storing in moto through a fault-injecting proxy that fails
  10% of S3 requests (503 SlowDown, 500, resets before and after S3 applied
  the request, slow answers). The proxy runs as its own process, because the
  tests' own reactor is blocked while the stock client works.
- ``cloud.s3-rgw``: the same nodes on Ceph RGW (``tests/support/ceph_rgw.py``),
  reached directly, in region ``default`` with the bucket made by
  ``tahoe-cloud create-container``, as an operator of RGW would.

The client encodes 3-of-10 with happiness 2, so every upload is spread over
both nodes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import boto3  # type: ignore[import-untyped]

from tests.s3.conftest import new_bucket_name
from tests.s3.moto import MotoServer
from tests.support.ceph_rgw import REGION as RGW_REGION
from tests.support.ceph_rgw import RGWServer
from tests.support.stock_client import REPO, TAHOE_CLOUD, CloudNode, StockClient

ALIAS = "interop"
S3_FAULT_RATE = 0.10


class Grid:
    """Two started nodes and a connected stock client; ``stored`` remembers every upload."""

    def __init__(self, base: Path, backend: str, nodes: list[CloudNode]) -> None:
        self.base = base
        self.backend = backend
        self.nodes = nodes
        for node in self.nodes:
            node.start()
        self.client = StockClient(base / "client", needed=3, happy=2, total=10)
        self.client.set_servers(node.announcement() for node in self.nodes)
        self.client.start()
        self.client.tahoe("create-alias", ALIAS)
        # Everything stored by the tests, read back again after the restart.
        self.stored: dict[str, bytes] = {}
        # The S3 secret the nodes were given (none on disk): it must stay out of their logs.
        self.s3_secret: str | None = None

    def put(self, data: bytes, *extra: str) -> str:
        path = self.base / f"upload-{hashlib.sha256(data).hexdigest()[:16]}"
        path.write_bytes(data)
        cap = self.client.tahoe("put", *extra, str(path)).strip().splitlines()[-1]
        self.stored[cap] = data
        return cap

    def get(self, cap: str) -> bytes:
        out = self.base / "download"
        self.client.tahoe("get", cap, str(out))
        return out.read_bytes()

    def stop(self) -> None:
        self.client.stop()
        for node in self.nodes:
            if node.process is not None and node.process.running():
                node.stop()


def disk_grid(base: Path) -> Grid:
    nodes = [CloudNode(base / f"node{i}", nickname=f"disk{i}") for i in (1, 2)]
    return Grid(base, "disk", nodes)


def new_s3_bucket(moto: MotoServer) -> str:
    """Create a fresh bucket on ``moto`` and return its name."""
    bucket = new_bucket_name()
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
    )
    s3.create_bucket(Bucket=bucket)
    return bucket


def s3_node(
    nodedir: Path,
    url: str,
    bucket: str,
    *,
    prefix: str,
    keys: tuple[str, str] = ("testing-key-id", "testing-secret"),
    region_args: tuple[str, ...] = (),
) -> CloudNode:
    """A node made by ``create-node --backend cloud.s3``, its secret given on standard input."""
    key_id, secret = keys
    node = CloudNode(
        nodedir,
        nickname=f"s3-{nodedir.name}",
        backend="cloud.s3",
        create_args=[
            "--s3-bucket", bucket, "--s3-access-key-id", key_id, "--s3-url", url,
            "--s3-prefix", prefix, *region_args,
        ],
        stdin=f"{secret}\n".encode(),
    )  # fmt: skip
    cfg = node.nodedir / "tahoe.cfg"
    cfg.write_text(cfg.read_text() + "s3.request_timeout = 20\n")
    return node


class S3Grid(Grid):
    """The grid on cloud.s3, behind the fault-injecting proxy."""

    def __init__(self, base: Path, moto: MotoServer) -> None:
        bucket = new_s3_bucket(moto)
        self.proxy = subprocess.Popen(
            [sys.executable, "-m", "tests.s3.run_proxy", moto.url, str(S3_FAULT_RATE), "5"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proxy.stdout is not None
        url = f"http://127.0.0.1:{int(self.proxy.stdout.readline())}"
        self.proxy_summary: dict[str, object] = {}
        try:
            nodes = [s3_node(base / f"node{i}", url, bucket, prefix=f"node{i}") for i in (1, 2)]
            super().__init__(base, "cloud.s3", nodes)
        except BaseException:
            self._stop_proxy()
            raise

    def _stop_proxy(self) -> None:
        assert self.proxy.stdin is not None and self.proxy.stdout is not None
        self.proxy.stdin.close()
        summary = self.proxy.stdout.readline()
        self.proxy.wait(timeout=30)
        self.proxy_summary = json.loads(summary) if summary else {}

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._stop_proxy()


class RGWGrid(Grid):
    """The grid on cloud.s3 over Ceph RGW, the bucket made by ``tahoe-cloud create-container``."""

    def __init__(self, base: Path, rgw: RGWServer) -> None:
        bucket = new_bucket_name()
        keys = (rgw.access_key_id, rgw.secret_access_key)
        region = ("--s3-region", RGW_REGION)
        nodes = [
            s3_node(
                base / f"node{i}", rgw.url, bucket, prefix=f"node{i}", keys=keys, region_args=region
            )
            for i in (1, 2)
        ]
        for node in nodes:
            done = subprocess.run(
                [*TAHOE_CLOUD, "create-container", str(node.nodedir)],
                capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        super().__init__(base, "cloud.s3-rgw", nodes)
        self.s3_secret = rgw.secret_access_key
