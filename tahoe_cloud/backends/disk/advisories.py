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
Each report appears whole (written aside, fsynced, renamed) or not at all.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import threading
from pathlib import Path

from tahoe_cloud.backends.disk.fileio import discard, fsync_dir, write_at
from tahoe_cloud.vocabulary import StorageIndex


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


# Serializes the check for a free name and the rename: a rename would replace a report.
_naming = threading.Lock()


def write_report(directory: Path, name: str, report: str) -> Path:
    """Write a report whole or not at all, never replacing an earlier one (blocking).

    A full disk must leave no empty or cut-short report behind: the text goes
    to a hidden temporary file, is fsynced, then renamed to a free name.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        try:
            os.fchmod(fd, 0o644)
            write_at(fd, 0, report.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        with _naming:
            candidate = directory / name
            attempt = 0
            while candidate.exists():
                # Two reports in the same microsecond: keep both.
                attempt += 1
                candidate = directory / f"{name}.{attempt}"
            os.rename(temp, candidate)
    except BaseException:
        discard(temp)
        raise
    fsync_dir(directory)
    return candidate
