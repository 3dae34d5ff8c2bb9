"""Upstream Tahoe-LAFS's on-disk share container formats, as pure functions.

No I/O happens here: the disk backend reads and writes files, these modules
only turn bytes into values and back. Every constant was checked against
stock tahoe-lafs 1.20 (``allmydata/storage/*_schema.py``, ``immutable.py``,
``mutable.py``, ``lease.py``) and against files it wrote.
"""

from __future__ import annotations


class ContainerFormatError(ValueError):
    """Bytes that are not a container (or a lease) this project understands.

    The message names the problem, never a secret: containers hold lease
    secrets and write enablers, so no raw bytes are ever quoted.
    """
