"""Fill a disk storage directory with many small immutable shares (start-up benchmark).

The files are upstream's layout and container format (``shares/<pp>/<si>/<n>``,
version-1 container with one lease), so the same directory is valid for
tahoe-cloud's disk backend and for an upstream node.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.loadgen import new_storage_index
from tahoe_cloud.formats.immutable import build_container
from tahoe_cloud.vocabulary import Lease


def populate(storage_dir: Path, count: int) -> float:
    """Write ``count`` one-share storage indexes; returns the seconds it took."""
    start = time.monotonic()
    lease = Lease(0, os.urandom(32), os.urandom(32), int(time.time()) + 31 * 24 * 3600)
    blob = build_container(1, os.urandom(1000), [lease])
    shares = storage_dir / "shares"
    made: set[str] = set()
    for _ in range(count):
        si = new_storage_index()
        prefix = shares / si[:2]
        if si[:2] not in made:
            prefix.mkdir(parents=True, exist_ok=True)
            made.add(si[:2])
        (prefix / si).mkdir()
        (prefix / si / "0").write_bytes(blob)
    return time.monotonic() - start
