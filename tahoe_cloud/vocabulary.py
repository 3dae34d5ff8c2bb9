"""The storage protocol's vocabulary: the values every layer names, and the protocol's limits.

This module sits below every layer (it imports nothing of tahoe-cloud but
``tahoe_cloud.errors``): the HTTP front end, the server core, the backends and
the container formats all speak of storage indexes, share numbers, share
kinds, leases, write enablers and write vectors through these types, so none
of them has to import another layer to do so.

Each value is checked once, when it is made: a bad one is ``InvalidRequest``
(``InvalidValue`` for the checks of leases, write enablers and vectors), and
code holding one may rely on it. The limits here are facts of the
protocol (upstream's CDDL schemas and container layouts) that any server
shares; this server's own resource policy is ``tahoe_cloud.server.limits``.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from functools import cached_property

from attrs import evolve, frozen

from tahoe_cloud.errors import InvalidRequest

# --- protocol limits ------------------------------------------------------

#: Offsets, sizes and lengths on the wire are unsigned 64-bit integers.
MAX_UINT64 = 2**64 - 1

#: A storage index is 16 bytes (26 base32 characters on the wire and on disk).
STORAGE_INDEX_BYTES = 16

#: Share numbers are 0..255: Tahoe-LAFS encodes at most 256 shares.
MAX_SHARE_NUMBER = 255

#: Shares one allocate or read-test-write may name: all there can be. The
#: stock client names N (10 by default) in an allocate, one in a read-test-write.
MAX_SHARES_PER_REQUEST = MAX_SHARE_NUMBER + 1

#: Test vectors per share (upstream's CDDL). The stock client sends one.
MAX_TEST_VECTORS = 30

#: Read vectors per read-test-write (upstream's CDDL). The stock client sends one.
MAX_READ_VECTORS = 30

#: Lease secrets, their digests and write enablers are 32 bytes.
SECRET_BYTES = 32

#: A server's node id, as mutable containers record it.
NODEID_BYTES = 20

#: Upstream's bound on a mutable share (``allmydata.mutable.layout``): 69,105 TB.
#: A backend may hold less; a server may accept less (its configured cap).
MAX_MUTABLE_SHARE_SIZE = 69_105 * 1000**4

#: Upstream's ``tstr .size (1..32765)``: the UTF-8 length of a corruption reason.
MAX_CORRUPTION_REASON_BYTES = 32765


class InvalidValue(InvalidRequest, ValueError):
    """A value that is not one of the protocol's: 400 when a client sent it.

    Also a ``ValueError``, so a backend parsing stored data (which already
    turns ``ValueError`` into "this object is damaged") reports a bad stored
    lease or write enabler as damage, not as the client's mistake.
    """


def check_uint(value: object, what: str) -> None:
    """Raise ``InvalidValue`` unless ``value`` is an int (not a bool) of at least 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(f"{what} must be a non-negative integer")


def _check_bytes(value: object, what: str, length: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise InvalidValue(f"{what} must be bytes")
    if length is not None and len(value) != length:
        raise InvalidValue(f"{what} must be {length} bytes")


# --- identifiers ------------------------------------------------------------

_SI_TEXT = re.compile(r"[a-z2-7]{26}\Z")
_SHNUM_TEXT = re.compile(r"(0|[1-9][0-9]{0,2})\Z")


def b32encode(data: bytes) -> str:
    """Lowercase unpadded base32, as Tahoe-LAFS writes identifiers."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode(text: str) -> bytes:
    """Inverse of :func:`b32encode`; raises ``ValueError`` on bad input."""
    if not re.fullmatch(r"[a-z2-7]*", text):
        raise ValueError("not lowercase base32")
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


@frozen(order=True)
class StorageIndex:
    """The 16-byte name of the shares of one file (or one mutable slot).

    Validated before any path or key is built from it.
    """

    raw: bytes

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != STORAGE_INDEX_BYTES:
            raise InvalidRequest("a storage index is 16 bytes")

    @classmethod
    def from_text(cls, text: str) -> StorageIndex:
        """Parse the 26-character form; anything else is ``InvalidRequest``."""
        if not _SI_TEXT.match(text):
            raise InvalidRequest("storage index must be 26 lowercase base32 characters")
        raw = b32decode(text)
        if b32encode(raw) != text:
            # Trailing bits set: a second spelling of the same index. Refuse it,
            # so one index has exactly one path and one key.
            raise InvalidRequest("storage index is not canonical base32")
        return cls(raw)

    @cached_property
    def text(self) -> str:
        # Cached: every path, key, log line and URL of a request asks for it.
        return b32encode(self.raw)

    @property
    def prefix(self) -> str:
        """The first two characters: upstream's 1,024-way directory fan-out."""
        return self.text[:2]

    def __str__(self) -> str:
        return self.text


def validate_share_number(value: object) -> int:
    """Return ``value`` if it is a valid share number, else raise ``InvalidRequest``.

    Share numbers stay plain ints (they are keys of every share map); this
    is the one check, made where a number enters: a URL, a request body, a
    file or object name.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest("share number must be an integer")
    if not 0 <= value <= MAX_SHARE_NUMBER:
        raise InvalidRequest(f"share number must be in 0..{MAX_SHARE_NUMBER}")
    return value


def parse_share_number(text: str) -> int:
    """Parse a decimal share number from a URL or a file name, strictly."""
    if not _SHNUM_TEXT.match(text):
        raise InvalidRequest("share number must be a decimal integer without leading zeros")
    return validate_share_number(int(text))


class ShareKind(enum.Enum):
    """The two kinds of share container."""

    IMMUTABLE = "immutable"
    MUTABLE = "mutable"


def validate_corruption_reason(reason: object) -> bytes:
    """Return ``reason`` if it is a corruption reason's UTF-8 bytes of an allowed length."""
    if not isinstance(reason, bytes) or not 1 <= len(reason) <= MAX_CORRUPTION_REASON_BYTES:
        raise InvalidRequest(f"reason must be 1..{MAX_CORRUPTION_REASON_BYTES} bytes")
    return reason


# --- leases and write enablers ------------------------------------------------


def hash_lease_secret(secret: bytes) -> bytes:
    """The digest upstream's version-2 containers keep instead of a secret."""
    return hashlib.blake2b(secret, digest_size=SECRET_BYTES).digest()


@frozen(repr=False)
class Lease:
    """One lease on one share: it keeps the share alive until ``expiration`` (Unix seconds).

    The client proves it owns a lease with the renew secret (to extend it) or
    the cancel secret. ``renew_secret`` and ``cancel_secret`` hold the secrets
    themselves when ``hashed`` is false, or their blake2b digests when it is
    true (upstream's version-2 containers store only the digests, so a stolen
    share file does not reveal them). Comparisons are constant-time in both
    forms. ``nodeid`` only has meaning in mutable containers.
    """

    owner_num: int
    renew_secret: bytes
    cancel_secret: bytes
    expiration: int
    nodeid: bytes = b"\x00" * NODEID_BYTES
    hashed: bool = False

    def __attrs_post_init__(self) -> None:
        # Whether a number fits a container's 32-bit field is the format's
        # question (tahoe_cloud.formats); these hold for every lease.
        check_uint(self.owner_num, "lease owner number")
        check_uint(self.expiration, "lease expiration")
        _check_bytes(self.renew_secret, "renew secret", SECRET_BYTES)
        _check_bytes(self.cancel_secret, "cancel secret", SECRET_BYTES)
        _check_bytes(self.nodeid, "lease node id", NODEID_BYTES)

    def __repr__(self) -> str:
        # Never print a secret, hashed or not.
        return (
            f"Lease(owner_num={self.owner_num}, expiration={self.expiration}, hashed={self.hashed})"
        )

    def to_hashed(self) -> Lease:
        """This lease with its secrets replaced by their digests (idempotent)."""
        if self.hashed:
            return self
        return evolve(
            self,
            renew_secret=hash_lease_secret(self.renew_secret),
            cancel_secret=hash_lease_secret(self.cancel_secret),
            hashed=True,
        )

    def _stored_form(self, secret: bytes) -> bytes:
        return hash_lease_secret(secret) if self.hashed else secret

    def renew_secret_matches(self, secret: bytes) -> bool:
        """Constant-time check of a presented renew secret."""
        return hmac.compare_digest(self._stored_form(secret), self.renew_secret)

    def cancel_secret_matches(self, secret: bytes) -> bool:
        """Constant-time check of a presented cancel secret."""
        return hmac.compare_digest(self._stored_form(secret), self.cancel_secret)

    def renewed(self, expiration: int) -> Lease:
        """This lease renewed to ``expiration``; renewal never shortens a lease."""
        return evolve(self, expiration=max(self.expiration, expiration))


@frozen(repr=False)
class WriteEnabler:
    """The secret that authorises writes to a mutable share, and the server it was given to.

    ``nodeid`` is the id of the server that stored the share; upstream
    containers record it beside the ``secret``.
    """

    nodeid: bytes
    secret: bytes

    def __attrs_post_init__(self) -> None:
        _check_bytes(self.nodeid, "write enabler node id", NODEID_BYTES)
        _check_bytes(self.secret, "write enabler", SECRET_BYTES)

    def __repr__(self) -> str:
        return "WriteEnabler(<secret>)"

    def matches(self, presented: bytes) -> bool:
        """Constant-time check of a presented write enabler."""
        return hmac.compare_digest(self.secret, presented)


# --- mutable writes -------------------------------------------------------------


@frozen
class WriteVector:
    """Write ``data`` at ``offset`` of a mutable share; a write past the end zero-fills the gap."""

    offset: int
    data: bytes

    def __attrs_post_init__(self) -> None:
        check_uint(self.offset, "write offset")
        _check_bytes(self.data, "write data")
