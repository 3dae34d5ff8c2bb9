"""The local spool of immutable uploads: writes that land whole, and the room left in it.

A file system may store fewer bytes than asked (``pwrite`` returns a short
count on a nearly full disk) or fail half-way (ENOSPC). A spool write
either stores every byte or raises, so the core never records a range as
received when it was not. The spool's free space bounds what allocate may
promise: an upload that cannot fit is refused up front, not failed late.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from tahoe_cloud.errors import BackendError, BackendUnavailable

# A full spool may empty as other uploads publish: the client can retry later.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def write_fully(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset``, looping on short writes; raise ``OSError`` if stuck."""
    view = memoryview(data)
    pos = offset
    while view:
        written = os.pwrite(fd, view, pos)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
        pos += written


def write_error(e: OSError) -> BackendError:
    """What a failed spool write tells the client: retry later when the spool is full."""
    if e.errno in _FULL:
        return BackendUnavailable(f"the upload spool is full ({e.strerror})")
    return BackendError(f"cannot write the upload spool file: {e.strerror}")


def free_space(spool_dir: Path) -> int:
    """Bytes a new spool file may still take (0 when the spool cannot be examined).

    Before the spool exists (the node not started yet) its nearest existing
    parent says which file system it will be on.
    """
    path = spool_dir
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        stats = os.statvfs(path)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize


def reset(spool_dir: Path) -> None:
    """Uploads do not survive a restart (as upstream's incoming/): start with an empty spool."""
    try:
        if spool_dir.exists():
            shutil.rmtree(spool_dir)
        spool_dir.mkdir(parents=True, mode=0o700)
    except OSError as e:
        raise BackendError(f"cannot prepare the upload spool {spool_dir}: {e.strerror}") from None


def default_spool_dir(storage_dir: Path) -> Path:
    """Where a node keeps its spool: inside its storage directory."""
    return storage_dir / "s3-spool"
