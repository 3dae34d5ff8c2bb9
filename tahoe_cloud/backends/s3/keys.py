"""The key layout of a tahoe-cloud S3 bucket (under an optional ``s3.prefix``).

``{p}`` is ``s3.prefix`` (empty by default), ``{pp}`` the storage index's first
two base32 characters (1,024 prefixes, spreading S3's per-prefix request
rate), ``{si}`` the 26-character storage index, ``{n}`` a decimal share number::

    {p}tahoe-cloud-node                          marker: which node owns this bucket/prefix
    {p}shares/{pp}/{si}/{n}                      a completed immutable share (its data, as is)
    {p}shares/{pp}/{si}/{n}.mutable              a mutable share's head (CBOR: write enabler,
                                                 length, inline data or chunk list)
    {p}mutable-chunks/{pp}/{si}/{n}/{i}-{gen}    chunk i of a large mutable share (immutable
                                                 objects; a write makes new ones)
    {p}leases/{pp}/{si}                          the leases of every share of {si} (CBOR)
    {p}corruption-advisories/{time}--{si}-{n}    a client's corruption report (text)
    {p}tahoe-cloud-probe/{random}/...            throwaway keys of the start-up probe

A share name is parsed strictly (``0`` .. ``255``, no leading zeros, only
the two suffixes above), so share 1 is never confused with shares 10-19, and
an object that is not ours is ignored rather than misread. Listing the
shares of one storage index lists ``{p}shares/{pp}/{si}/`` (trailing slash:
never another index). ``KeyLayout`` builds every key and, for clean-up and
enumeration, reads the listed ones back (``share_owner``, ``lease_owner``,
``chunk_group``, ``listed_share``, ``listed_lease``): the layout is written
down here and nowhere else.

Within ``shares/`` and within ``leases/``, key order is the storage indexes'
text order (``{pp}`` is the index's own first two characters and every
index is 26 characters), so a listing of either walks the storage indexes
in the order ``IShareEnumeration`` promises.
"""

from __future__ import annotations

import re

from attrs import frozen

from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.vocabulary import ShareKind, StorageIndex

MUTABLE_SUFFIX = ".mutable"
MARKER_NAME = "tahoe-cloud-node"

_SHARE_NAME = re.compile(r"(0|[1-9][0-9]{0,2})(\.mutable)?\Z")
_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/-]*\Z")


def validate_prefix(prefix: str) -> str:
    """A key prefix of safe characters, no ``//`` or leading ``/``; given a trailing ``/``."""
    if not _PREFIX.match(prefix) or prefix.startswith("/") or "//" in prefix:
        raise ValueError(
            "use letters, digits and !_.*'()/- only, not starting with '/' and without '//'"
        )
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


def parse_share_name(name: str) -> tuple[int, ShareKind] | None:
    """``"7"`` -> (7, IMMUTABLE), ``"7.mutable"`` -> (7, MUTABLE); anything else -> None."""
    m = _SHARE_NAME.match(name)
    if m is None:
        return None
    number = int(m.group(1))
    if number > 255:
        return None
    return number, (ShareKind.MUTABLE if m.group(2) else ShareKind.IMMUTABLE)


@frozen
class KeyLayout:
    """Builds every key; ``prefix`` is already validated (see ``validate_prefix``)."""

    prefix: str = ""

    @property
    def marker(self) -> str:
        return f"{self.prefix}{MARKER_NAME}"

    @property
    def probe_root(self) -> str:
        return f"{self.prefix}tahoe-cloud-probe/"

    @property
    def shares_root(self) -> str:
        return f"{self.prefix}shares/"

    @property
    def chunks_root(self) -> str:
        return f"{self.prefix}mutable-chunks/"

    @property
    def leases_root(self) -> str:
        return f"{self.prefix}leases/"

    def shares_of(self, si: StorageIndex) -> str:
        return f"{self.prefix}shares/{si.prefix}/{si.text}/"

    def immutable(self, si: StorageIndex, shnum: int) -> str:
        return f"{self.shares_of(si)}{shnum}"

    def mutable_head(self, si: StorageIndex, shnum: int) -> str:
        return f"{self.shares_of(si)}{shnum}{MUTABLE_SUFFIX}"

    def chunks_of(self, si: StorageIndex, shnum: int) -> str:
        return f"{self.prefix}mutable-chunks/{si.prefix}/{si.text}/{shnum}/"

    def chunk(self, si: StorageIndex, shnum: int, index: int, gen: str) -> str:
        return f"{self.chunks_of(si, shnum)}{index}-{gen}"

    def leases(self, si: StorageIndex) -> str:
        return f"{self.prefix}leases/{si.prefix}/{si.text}"

    def advisory(self, when: str, si: StorageIndex, shnum: int) -> str:
        return f"{self.prefix}corruption-advisories/{when}--{si.text}-{shnum}"

    def shares_start_after(self, si: StorageIndex) -> str:
        """A ``StartAfter`` for ``shares/`` past every key of ``si`` and before the next index's.

        ``{p}shares/{pp}/{si}0``: ``0`` sorts right after ``/``, so every
        ``{p}shares/{pp}/{si}/...`` key is before it, and every later index after it.
        """
        return f"{self.prefix}shares/{si.prefix}/{si.text}0"

    # --- reading listed keys back (clean-up, enumeration) ----------------------

    def share_owner(self, key: str) -> str | None:
        """The storage index (text) of ``{p}shares/{pp}/{si}/{name}``, else None."""
        parts = _parts(key, self.shares_root)
        return parts[1] if len(parts) == 3 else None

    def lease_owner(self, key: str) -> str | None:
        """The storage index (text) of ``{p}leases/{pp}/{si}``, else None."""
        parts = _parts(key, self.leases_root)
        return parts[1] if len(parts) == 2 else None

    def chunk_group(self, key: str) -> tuple[str, str, str] | None:
        """``(pp, si, n)`` of ``{p}mutable-chunks/{pp}/{si}/{n}/{i}-{gen}``, else None.

        The texts are as listed: ``share_of_group`` says whether they name a share.
        """
        parts = _parts(key, self.chunks_root)
        return (parts[0], parts[1], parts[2]) if len(parts) == 4 else None

    def listed_share(self, key: str) -> tuple[StorageIndex, int, ShareKind] | None:
        """The share ``{p}shares/{pp}/{si}/{name}`` names, strictly; None for any other key."""
        parts = _parts(key, self.shares_root)
        if len(parts) != 3 or (parsed := parse_share_name(parts[2])) is None:
            return None
        si = _storage_index(parts[0], parts[1])
        return None if si is None else (si, *parsed)

    def listed_lease(self, key: str) -> StorageIndex | None:
        """The storage index whose lease object ``{p}leases/{pp}/{si}`` is, strictly; else None."""
        parts = _parts(key, self.leases_root)
        return _storage_index(parts[0], parts[1]) if len(parts) == 2 else None

    @staticmethod
    def share_of_group(group: tuple[str, str, str]) -> tuple[StorageIndex, int] | None:
        """The share a ``chunk_group`` belongs to, or None for a foreign one."""
        try:
            return StorageIndex.from_text(group[1]), int(group[2])
        except (ValueError, InvalidRequest):
            return None


def _storage_index(pp: str, text: str) -> StorageIndex | None:
    """``text`` as a storage index if it is canonical and ``pp`` is its prefix, else None."""
    try:
        si = StorageIndex.from_text(text)
    except InvalidRequest:
        return None
    return si if si.prefix == pp else None


def _parts(key: str, root: str) -> list[str]:
    """The ``/``-separated names of ``key`` below ``root`` (listed under it)."""
    return key[len(root) :].split("/")
