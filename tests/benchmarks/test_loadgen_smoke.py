"""Smoke run of the benchmark load generator against a real ``tahoe-cloud run`` node.

Tiny sizes, a few seconds: it checks that the generator speaks the protocol
(pinned TLS, allocate, PATCH pieces, ranged reads with the probe past the end,
read-test-write) and that the /proc meter reads the server process. No timing
assertions: the benchmarks themselves are not part of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks import workloads
from benchmarks.loadgen import Connection, MiB, Nurl, ProtocolError, Secrets, new_storage_index
from benchmarks.servers import CloudServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudServer]:
    node = CloudServer(tmp_path_factory.mktemp("bench") / "node")
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_upload_download_and_mutable(server: CloudServer) -> None:
    nurl = Nurl.parse(server.nurl)
    conn = Connection(nurl)
    try:
        assert b"http://allmydata.org/tahoe/protocols/storage/v1" in conn.version()
        si, secrets = new_storage_index(), Secrets.random()
        conn.upload(si, secrets, MiB + 10, workloads.PIECE)
        assert conn.list_shares(si) == {0}
        assert conn.download(si, MiB + 10) == MiB + 10
        assert conn.read(si, 0, MiB, 10) == workloads.PIECE[:10]
        slot = new_storage_index()
        assert conn.read_test_write(slot, secrets, None, b"a" * 100)
        assert conn.read_test_write(slot, secrets, b"a" * 100, b"b" * 100)
        assert not conn.read_test_write(slot, secrets, b"a" * 100, b"c" * 100)
    finally:
        conn.close()


def test_workloads_tiny(server: CloudServer) -> None:
    nurl, meter = Nurl.parse(server.nurl), server.meter()
    r = workloads.throughput(nurl, meter, 64 * 1024, 2, 256 * 1024)
    assert r["count"] == 4 and r["bytes"] == 4 * 64 * 1024
    assert workloads.small_shares(nurl, meter, 2, 4, 30)["count"] == 4
    assert workloads.mutable_writes(nurl, meter, 2, 4, 30)["count"] == 4
    assert workloads.read_latency(nurl, 3, 30)["reads"] >= 3
    assert workloads.peak_memory(nurl, meter, MiB, 2)["peak_rss_MiB"] > 0
    assert meter.cpu_seconds() > 0


def test_pinning_refuses_another_key(server: CloudServer) -> None:
    nurl = Nurl.parse(server.nurl)
    wrong = Nurl(nurl.host, nurl.port, "A" * 43, nurl.swissnum)
    conn = Connection(wrong)
    with pytest.raises(ProtocolError, match="SPKI"):
        conn.version()
    conn.close()
