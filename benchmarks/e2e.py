"""End to end: a stock ``tahoe put`` and ``tahoe get`` of a 20 MB random file through one server.

A stock 1.20 client (introducer-less, 1-of-1 encoding so every byte goes to
the one server measured) is given the server's announcement, uploads fresh
random data (convergent encryption would dedupe a repeat) and downloads it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.servers import REPO, TAHOE_CLOUD
from tests.support.stock_client import StockClient


def announcement(nodedir: Path) -> dict[str, object]:
    import yaml

    done = subprocess.run(
        [*TAHOE_CLOUD, "announcement", str(nodedir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=str(REPO),
    )
    parsed: dict[str, object] = yaml.safe_load(done.stdout)
    return parsed


def put_get(base: Path, nodedir: Path, size: int) -> dict[str, Any]:
    client = StockClient(base / "client", needed=1, happy=1, total=1)
    client.set_servers([announcement(nodedir)])
    try:
        client.start()
        data = os.urandom(size)
        local = base / "file"
        local.write_bytes(data)
        start = time.monotonic()
        cap = client.tahoe("put", str(local)).strip().splitlines()[-1]
        put = time.monotonic() - start
        out = base / "back"
        start = time.monotonic()
        client.tahoe("get", cap, str(out))
        get = time.monotonic() - start
        if out.read_bytes() != data:
            raise RuntimeError("tahoe get returned other bytes")
    finally:
        if client.process is not None:
            client.stop()
    return {
        "size": size,
        "put_seconds": put,
        "get_seconds": get,
        "put_MBps": size / put / 1e6,
        "get_MBps": size / get / 1e6,
    }
