"""Walking ``shares/`` for ``IShareEnumeration``: the blocking steps, run in the I/O pool.

The walk reads upstream's layout (``shares/<pp>/<si>/<shnum>``) in text
order: the prefix directories sorted, then each one's storage indexes
sorted. ``incoming/`` and any name that is not a canonical prefix, storage
index or share number are skipped, so a stray file never ends or breaks a
walk. Each function here is one bounded piece of work (one directory, or at
most one batch of storage indexes), so a walk never holds a pool thread long.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from tahoe_cloud.backends.disk.layout import share_number_from_name
from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.vocabulary import StorageIndex

_PREFIX = re.compile(r"[a-z2-7]{2}\Z")


def _names(directory: Path) -> list[str]:
    """The names of the subdirectories of ``directory``; none if it is gone."""
    try:
        with os.scandir(directory) as entries:
            return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def prefixes(shares_dir: Path, start: str) -> list[str]:
    """The prefix directories of ``shares_dir`` from ``start`` on, sorted (one directory read)."""
    return sorted(n for n in _names(shares_dir) if _PREFIX.match(n) and n >= start)


def storage_indexes_in(prefix_dir: Path, after: str) -> list[StorageIndex]:
    """The storage indexes of one prefix directory after ``after`` (text), sorted (one read)."""
    found = []
    for name in _names(prefix_dir):
        if name <= after or name[:2] != prefix_dir.name:
            continue
        try:
            found.append(StorageIndex.from_text(name))
        except InvalidRequest:
            continue
    found.sort(key=lambda si: si.text)
    return found


def newest_share(directory: Path) -> float | None:
    """The newest mtime of the share files in ``directory``; None if it holds none.

    One directory read and one ``stat`` per share file; no file is opened.
    """
    newest: float | None = None
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if share_number_from_name(entry.name) is None:
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue  # deleted since the listing
                newest = mtime if newest is None else max(newest, mtime)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return newest


def examine(prefix_dir: Path, batch: Sequence[StorageIndex]) -> list[tuple[StorageIndex, float]]:
    """Those of ``batch`` (all in ``prefix_dir``) holding a share, with their newest mtime."""
    found = []
    for si in batch:
        newest = newest_share(prefix_dir / si.text)
        if newest is not None:
            found.append((si, newest))
    return found
