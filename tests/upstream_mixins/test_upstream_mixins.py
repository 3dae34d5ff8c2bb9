"""Upstream's IStorageServer conformance mixins, run by twisted.trial in the upstream
virtualenv against a live ``tahoe-cloud run`` node (see live_istorageserver.py).

The node gets the test-only settings the mixins need: the lease view on its
own loopback listener and a fake clock. Run once per backend.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tahoe_cloud.cli.create_node import find_free_port
from tests.interop.grid import s3_node
from tests.support.s3 import new_bucket_name
from tests.support.stock_client import CloudNode
from tests.support.upstream import upstream_venv

pytestmark = [pytest.mark.upstream, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", ["memory", "disk", "cloud.s3"])
def test_upstream_istorageserver_mixins_pass(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "cloud.s3":
        moto = request.getfixturevalue("moto")
        node = s3_node(
            tmp_path / "node", moto, new_bucket_name(), prefix="mixins/", create_container=True
        )
    else:
        node = CloudNode(tmp_path / "node", backend=backend)
    lease_port = find_free_port()
    with (node.nodedir / "tahoe.cfg").open("a") as cfg:
        cfg.write(
            f"\n[testing]\nlease_view.port = tcp:{lease_port}:interface=127.0.0.1\n"
            "fake_clock = true\n"
        )
    info = tmp_path / "live-node.json"
    fd = os.open(info, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "nurl": node.announcement_nurl(),
                "lease_view": f"http://127.0.0.1:{lease_port}",
                "swissnum": (node.nodedir / "private" / "swissnum").read_text().strip(),
            },
            f,
        )
    node.start()
    try:
        done = subprocess.run(
            [str(upstream_venv() / "bin" / "python"), "-m", "twisted.trial",
             "tests.upstream_mixins.live_istorageserver"],
            cwd=str(tmp_path),
            env={**os.environ, "PYTHONPATH": str(REPO), "TAHOE_CLOUD_LIVE_NODE": str(info)},
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        assert node.stop() == 0
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20000:]
    summary = output.strip().splitlines()[-1]
    assert re.match(r"PASSED \(successes=\d+\)\Z", summary), output[-20000:]
    ran = int(re.search(r"successes=(\d+)", summary).group(1))  # type: ignore[union-attr]
    assert ran >= 30, summary
