"""A stock Tahoe-LAFS 1.20 client against real ``tahoe-cloud run`` processes, on every backend.

One grid per backend (``tests/interop/grid.py``): two tahoe-cloud nodes and an
introducer-less stock client encoding 3-of-10 with happiness 2. On cloud.s3
the nodes reach moto through a proxy failing 10% of S3 requests; on
cloud.s3-rgw they use Ceph RGW directly. The tests run
in file order and share what they stored: the restart test reads back
everything the earlier ones wrote.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.grid import ALIAS, Grid, RGWGrid, S3Grid, disk_grid

pytestmark = [pytest.mark.upstream, pytest.mark.slow]


@pytest.fixture(
    scope="module", params=["disk", "cloud.s3", pytest.param("cloud.s3-rgw", marks=pytest.mark.rgw)]
)
def grid(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Grid]:
    base = tmp_path_factory.mktemp(f"grid-{request.param}")
    g: Grid
    if request.param == "disk":
        g = disk_grid(base)
    elif request.param == "cloud.s3":
        g = S3Grid(base, request.getfixturevalue("moto"))
    else:
        g = RGWGrid(base, request.getfixturevalue("rgw"))
    try:
        yield g
    finally:
        g.stop()
    if isinstance(g, S3Grid):
        # The stock client's work really did go through S3 faults.
        print("fault proxy:", g.proxy_summary)
        faults = g.proxy_summary.get("faults")
        assert isinstance(faults, dict) and sum(faults.values()) > 0, g.proxy_summary


@pytest.mark.parametrize("size", [1_000_000, 20_000_000])
def test_put_get_random_file(grid: Grid, size: int) -> None:
    data = os.urandom(size)
    cap = grid.put(data)
    assert cap.startswith("URI:CHK:")
    assert grid.get(cap) == data


def test_directory_mkdir_cp_ls(grid: Grid) -> None:
    grid.client.tahoe("mkdir", f"{ALIAS}:docs")
    local = grid.base / "note.txt"
    local.write_bytes(b"a small note\n")
    grid.client.tahoe("cp", str(local), f"{ALIAS}:docs/note.txt")
    assert grid.client.tahoe("ls", f"{ALIAS}:docs").split() == ["note.txt"]
    assert grid.client.tahoe("get", f"{ALIAS}:docs/note.txt") == "a small note\n"


def test_mutable_file_overwritten_and_read_back(grid: Grid) -> None:
    first, second = os.urandom(5000), os.urandom(300_000)
    cap = grid.put(first, "--mutable")
    assert cap.startswith("URI:SSK:")
    assert grid.get(cap) == first
    path = grid.base / "second"
    path.write_bytes(second)
    grid.client.tahoe("put", str(path), cap)
    grid.stored[cap] = second
    assert grid.get(cap) == second


def test_upload_is_spread_over_both_nodes(grid: Grid) -> None:
    data = os.urandom(100_000)
    cap = grid.put(data)
    report = json.loads(grid.client.tahoe("check", "--raw", cap))
    results = report["results"]
    assert results["healthy"] is True
    assert results["count-shares-good"] == 10
    holders = {server for server, _share in _sharemap_pairs(results["sharemap"])}
    assert len(holders) == 2
    if grid.backend == "disk":
        # And on disk: each node stores some of the ten shares.
        counts = [_share_files(node.nodedir) for node in grid.nodes]
        assert all(c > 0 for c in counts)


def _sharemap_pairs(sharemap: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(server, share) for share, servers in sharemap.items() for server in servers]


def _share_files(nodedir: Path) -> int:
    shares = nodedir / "storage" / "shares"
    return sum(1 for p in shares.glob("*/*/*") if p.is_file() and p.parts[-3] != "incoming")


def test_deep_check_verify_add_lease_is_healthy(grid: Grid) -> None:
    out = grid.client.tahoe("deep-check", "--verify", "--add-lease", f"{ALIAS}:")
    # "done: N objects checked, N healthy, 0 unhealthy" (wording of the 1.20 CLI).
    summary = out.strip().splitlines()[-1]
    assert "objects checked" in summary, out
    checked = int(summary.split()[1])
    assert checked >= 3
    assert f"{checked} healthy" in summary, out


def test_everything_readable_after_the_nodes_restart(grid: Grid) -> None:
    for node in grid.nodes:
        assert node.stop() == 0
    for node in grid.nodes:
        node.start()
    grid.client.wait_connected(2)
    assert grid.stored
    for cap, data in grid.stored.items():
        assert grid.get(cap) == data
        report = json.loads(grid.client.tahoe("check", "--verify", "--raw", cap))
        assert report["results"]["healthy"] is True, report
    assert grid.client.tahoe("get", f"{ALIAS}:docs/note.txt") == "a small note\n"


def test_sigint_stops_a_node_cleanly(grid: Grid) -> None:
    node = grid.nodes[0]
    assert node.process is not None
    # The pytest run may have started with SIGINT ignored (a background job of a
    # script), and so the node too: it stops on SIGINT all the same.
    status = node.process.stop(signal.SIGINT)
    output = node.process.output()
    assert status == 0, output
    assert "Received SIGINT, shutting down." in output
    assert "storage node stopped" in output


def test_no_unhandled_error_in_the_nodes_logs(grid: Grid) -> None:
    """Twisted only logs an exception nobody handled: the run must not have logged one."""
    for node in grid.nodes:
        for path in node.output_files():
            text = path.read_text(errors="replace")
            for sign in ("Unhandled Error", "Unhandled error in Deferred", "unexpected error"):
                assert sign not in text, f"{path}: {sign}"


def test_no_swissnum_in_the_nodes_logs(grid: Grid) -> None:
    """Runs last: whatever the stock client did, no node logged its swissnum (or S3 secret)."""
    for node in grid.nodes:
        swissnum = (node.nodedir / "private" / "swissnum").read_text().strip().encode()
        files = node.output_files()
        assert any(f.parent.name == "logs" for f in files)
        for path in files:
            content = path.read_bytes()
            assert swissnum not in content, path
            assert base64.b64encode(swissnum) not in content, path
            if grid.s3_secret is not None:
                assert grid.s3_secret.encode() not in content, path
