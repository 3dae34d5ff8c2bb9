"""Where things live under a disk backend's ``storage_dir`` (upstream's exact layout).

::

    <storage_dir>/shares/<prefix>/<si>/<shnum>            completed shares
    <storage_dir>/shares/<prefix>/<si>/.<shnum>.tmp-<hex>  a mutable rewrite in progress
    <storage_dir>/shares/incoming/<prefix>/<si>/<shnum>   immutable uploads in progress
    <storage_dir>/corruption-advisories/<time>--<si>-<shnum>

``<si>`` is the 26-character base32 storage index and ``<prefix>`` its first
two characters. Paths are only ever built from a validated ``StorageIndex``
and share number, and names read back from disk are parsed strictly
(:func:`share_number_from_name`), so a stray file can never be mistaken for a
share nor make a listing fail.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from attrs import frozen

from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.identifiers import StorageIndex, parse_share_number, validate_share_number

SHARES = "shares"
INCOMING = "incoming"
ADVISORIES = "corruption-advisories"

# Temporary files of mutable rewrites: a leading dot and a suffix, so neither
# we nor upstream (which only takes all-digit names) ever reads one as a share.
_TEMP_NAME = re.compile(r"\.(0|[1-9][0-9]{0,2})\.tmp-[0-9a-f]{16}\Z")


def share_number_from_name(name: str) -> int | None:
    """The share number a directory entry names, or None if it is not a canonical one."""
    try:
        return parse_share_number(name)
    except InvalidRequest:
        return None


def is_temp_name(name: str) -> bool:
    """True for the name of a mutable rewrite's temporary file."""
    return _TEMP_NAME.match(name) is not None


def temp_name(share_number: int) -> str:
    """A fresh, unique temporary name beside share ``share_number``."""
    return f".{validate_share_number(share_number)}.tmp-{secrets.token_hex(8)}"


@frozen
class Layout:
    """Path arithmetic for one storage directory. No I/O."""

    storage_dir: Path

    @property
    def shares_dir(self) -> Path:
        return self.storage_dir / SHARES

    @property
    def incoming_dir(self) -> Path:
        return self.shares_dir / INCOMING

    @property
    def advisories_dir(self) -> Path:
        return self.storage_dir / ADVISORIES

    def share_dir(self, storage_index: StorageIndex) -> Path:
        return self.shares_dir / storage_index.prefix / storage_index.text

    def share_path(self, storage_index: StorageIndex, share_number: int) -> Path:
        return self.share_dir(storage_index) / str(validate_share_number(share_number))

    def incoming_share_dir(self, storage_index: StorageIndex) -> Path:
        return self.incoming_dir / storage_index.prefix / storage_index.text

    def incoming_path(self, storage_index: StorageIndex, share_number: int) -> Path:
        return self.incoming_share_dir(storage_index) / str(validate_share_number(share_number))
