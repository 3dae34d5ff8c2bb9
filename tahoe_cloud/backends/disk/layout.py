"""Where things live under a disk backend's ``storage_dir`` (upstream's exact layout).

::

    <storage_dir>/shares/<prefix>/<si>/<shnum>            completed shares
    <storage_dir>/shares/incoming/<prefix>/<si>/<shnum>   immutable uploads in progress
    <storage_dir>/shares/incoming/rewrites/<si>.<shnum>.tmp-<hex>
                                                          a share rewrite in progress
    <storage_dir>/shares/incoming/leases/<si>.<shnum>     a lease change in progress
                                                          (``lease_journal``; redone at start)
    <storage_dir>/corruption-advisories/<time>--<si>-<shnum>

``<si>`` is the 26-character base32 storage index and ``<prefix>`` its first
two characters. Rewrites are staged under ``incoming/`` because it is on the
same file system as the shares (so the final rename is atomic) and because it
is the one place both we and upstream empty at start: clearing crash leftovers
costs one directory removal, however many shares the store holds.

Paths are only ever built from a validated ``StorageIndex``
and share number, and names read back from disk are parsed strictly
(:func:`share_number_from_name`), so a stray file can never be mistaken for a
share nor make a listing fail.
"""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path

from attrs import frozen

from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.vocabulary import StorageIndex, parse_share_number, validate_share_number

SHARES = "shares"
INCOMING = "incoming"
ADVISORIES = "corruption-advisories"

REWRITES = "rewrites"

# Staging names: random per process, then a counter (unique without a
# getrandom call per rewrite; only this process writes under rewrites/).
_TOKEN = secrets.token_hex(6)
_SERIAL = itertools.count()


def share_number_from_name(name: str) -> int | None:
    """The share number a directory entry names, or None if it is not a canonical one."""
    try:
        return parse_share_number(name)
    except InvalidRequest:
        return None


def rewrite_temp_path(share_path: Path) -> Path:
    """A fresh, unique staging path for a rewrite of the share at ``share_path``.

    ``share_path`` is ``<shares>/<prefix>/<si>/<shnum>``; the staging file goes
    in ``<shares>/incoming/rewrites/``, which ``start()`` creates and empties.
    """
    share_number = validate_share_number(int(share_path.name))
    storage_index = share_path.parent.name
    shares_dir = share_path.parents[2]
    name = f"{storage_index}.{share_number}.tmp-{_TOKEN}-{next(_SERIAL)}"
    return shares_dir / INCOMING / REWRITES / name


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
    def rewrites_dir(self) -> Path:
        return self.incoming_dir / REWRITES

    @property
    def advisories_dir(self) -> Path:
        return self.storage_dir / ADVISORIES

    def share_dir(self, storage_index: StorageIndex) -> Path:
        text = storage_index.text  # encoded once: it is computed on every access
        return self.shares_dir / text[:2] / text

    def share_path(self, storage_index: StorageIndex, share_number: int) -> Path:
        return self.share_dir(storage_index) / str(validate_share_number(share_number))

    def incoming_share_dir(self, storage_index: StorageIndex) -> Path:
        return self.incoming_dir / storage_index.prefix / storage_index.text

    def incoming_path(self, storage_index: StorageIndex, share_number: int) -> Path:
        return self.incoming_share_dir(storage_index) / str(validate_share_number(share_number))
