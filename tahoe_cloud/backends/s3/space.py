"""Space accounting of the cloud.s3 backend: bytes stored, bytes spooled, and what is left.

S3 has no limit of its own: ``s3.quota`` is the operator's, counted from a
measure at start (one LIST per 1,000 objects) kept up to date by this
server's own writes. Every upload passes through the local spool, so its
free space bounds what may be promised too.
"""

from __future__ import annotations

from pathlib import Path

from tahoe_cloud.backends.s3 import spool

# Reported as available space when no s3.quota is set: 1 PiB. S3 itself has no
# limit; this is large enough never to refuse a share, and an honest-looking number.
UNLIMITED_SPACE = 2**50


class SpaceAccount:
    """Bytes stored (``used``, measured only under a quota) and bytes spooled."""

    def __init__(self) -> None:
        self.used: int | None = None
        # Bytes spooled for uploads not yet published: not in ``used`` (which
        # grows at publish), yet already received, so the core's space
        # accountant expects them gone from ``available`` (as on disk).
        self.spooled = 0

    def stored(self, delta: int) -> None:
        """``delta`` bytes more (or fewer) are stored in the bucket."""
        if self.used is not None:
            self.used = max(0, self.used + delta)

    def spool(self, delta: int) -> None:
        """``delta`` bytes more (or fewer) wait in the spool for uploads not yet published."""
        self.spooled += delta

    def available(self, quota: int | None, spool_dir: Path) -> int:
        """The quota's room, bounded by the spool's free space.

        Every upload passes through the spool before it reaches S3, so an
        allocation the spool cannot hold would fail mid-upload: the core
        refuses it instead (it subtracts what uploads in progress are still
        owed from this figure; the bytes they already received are on disk).
        """
        room = UNLIMITED_SPACE if quota is None else quota - (self.used or 0)
        # statvfs on the reactor thread, as the disk backend does: it reads
        # file-system counters, no data.
        return max(0, min(room - self.spooled, spool.free_space(spool_dir)))
