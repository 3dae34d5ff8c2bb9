"""Free space of the filesystem holding the storage directory."""

from __future__ import annotations

import os
from pathlib import Path


def available_space(storage_dir: Path, reserved_space: int) -> int:
    """Bytes an unprivileged writer may still use, minus the reservation; never negative.

    ``f_bavail`` (not ``f_bfree``) excludes the blocks kept for root, which
    this server, running as an ordinary user, cannot use.
    """
    stats = os.statvfs(storage_dir)
    return max(0, stats.f_bavail * stats.f_frsize - reserved_space)
