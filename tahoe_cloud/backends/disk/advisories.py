"""Corruption advisories, written where and as upstream writes them.

Upstream (``allmydata.storage.server.advise_corrupt_share``) writes one text
file per report into ``<storage_dir>/corruption-advisories/``, named
``<UTC ISO time with "T", colons removed>--<si>-<shnum>``, e.g.
``2026-11-21T193356.123456--<si>-3``, holding::

    report: Share Corruption
    type: immutable
    storage_index: <si>
    share_number: 3

    <reason>

(with a final blank line). Operators' tools that read these keep working.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from tahoe_cloud.identifiers import StorageIndex


def render_report(kind: str, storage_index: StorageIndex, share_number: int, reason: bytes) -> str:
    """The report text. ``reason`` is the client's UTF-8 text; bad bytes are replaced, not fatal."""
    text = reason.decode("utf-8", errors="replace")
    return (
        "report: Share Corruption\n"
        f"type: {kind}\n"
        f"storage_index: {storage_index.text}\n"
        f"share_number: {share_number}\n"
        "\n"
        f"{text}\n"
        "\n"
    )


def report_name(now: float, storage_index: StorageIndex, share_number: int) -> str:
    """The file name for a report made at Unix time ``now``."""
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    return f"{stamp.isoformat('T')}--{storage_index.text}-{share_number}".replace(":", "")


def write_report(directory: Path, name: str, report: str) -> Path:
    """Write a report without ever overwriting an earlier one (blocking)."""
    directory.mkdir(parents=True, exist_ok=True)
    candidate = directory / name
    attempt = 0
    while True:
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            # Two reports in the same microsecond: keep both.
            attempt += 1
            candidate = directory / f"{name}.{attempt}"
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(report)
        return candidate
