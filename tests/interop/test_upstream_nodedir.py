"""Drop-in: ``tahoe-cloud run`` on an upstream storage node's directory serves what upstream stored.

A stock 1.20 storage node is created and run with the upstream virtualenv; a
stock client stores an immutable file, a mutable file and a directory through
it; the upstream node stops and tahoe-cloud runs on the same directory, with
the same identity (certificate, swissnum, tub id), port and storage/. The
client, unchanged, reads everything back, and can still modify the mutable
file (which needs the same write enabler, hence the same tub id) and renew
leases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tahoe_cloud.cli.create_node import find_free_port
from tests.support.stock_client import CloudNode, StockClient, UpstreamNode

pytestmark = [pytest.mark.upstream, pytest.mark.slow]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("dropin")


def test_tahoe_cloud_serves_an_upstream_node_directory(base: Path) -> None:
    upstream = UpstreamNode(base / "storage-node", find_free_port())
    client = StockClient(base / "client", needed=1, happy=1, total=1)
    cloud: CloudNode | None = None
    try:
        upstream.start()
        # The announcement tahoe-cloud derives from upstream's files must let a
        # stock client reach the *upstream* server: same certificate, swissnum.
        cloud = CloudNode(upstream.nodedir)
        client.set_servers([cloud.announcement()])
        client.start()

        data = os.urandom(1_500_000)
        local = base / "data"
        local.write_bytes(data)
        immutable = client.tahoe("put", str(local)).strip().splitlines()[-1]
        mutable_data = os.urandom(3000)
        local.write_bytes(mutable_data)
        mutable = client.tahoe("put", "--mutable", str(local)).strip().splitlines()[-1]
        client.tahoe("create-alias", "up")
        client.tahoe("cp", immutable, "up:copy")

        upstream.stop()  # upstream's twistd exits by the signal itself (-15)

        cloud.start()
        assert cloud.process is not None
        nurl = cloud.announcement_nurl()
        output = cloud.process.output()
        assert "NURL: " + nurl.rpartition("/")[0] + "/<swissnum: " in output
        assert nurl not in output
        client.wait_connected(1)

        out = base / "out"
        client.tahoe("get", immutable, str(out))
        assert out.read_bytes() == data
        assert client.tahoe("ls", "up:").split() == ["copy"]
        client.tahoe("get", "up:copy", str(out))
        assert out.read_bytes() == data
        client.tahoe("get", mutable, str(out))
        assert out.read_bytes() == mutable_data

        # Writes still work: same tub id means the client's write enabler matches.
        newer = os.urandom(4000)
        local.write_bytes(newer)
        client.tahoe("put", str(local), mutable)
        client.tahoe("get", mutable, str(out))
        assert out.read_bytes() == newer
        report = client.tahoe("deep-check", "--add-lease", "up:")
        assert "2 objects checked, 2 healthy, 0 unhealthy" in report, report
    finally:
        if client.process is not None:
            client.stop()
        if upstream.process is not None and upstream.process.running():
            upstream.stop()
        if cloud is not None and cloud.process is not None and cloud.process.running():
            cloud.stop()
