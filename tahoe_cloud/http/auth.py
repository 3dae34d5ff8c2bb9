"""Authorization: the swissnum check and the per-operation secrets headers.

Every request must carry ``Authorization: Tahoe-LAFS <base64(swissnum)>``;
it is compared in constant time with ``hmac.compare_digest`` (a mismatch,
a missing header or several headers are all 401, before any other check).

Operations that need secrets get them as ``X-Tahoe-Authorization: <kind>
<base64>`` headers, one per secret. Each endpoint names the exact set it
needs; a missing, extra, repeated, empty, undecodable or wrongly sized secret
is 400. Error reasons name the secret kind, never a value.
"""

from __future__ import annotations

import binascii
import enum
import hmac
from base64 import b64encode
from collections.abc import Sequence

from twisted.web import http

from tahoe_cloud.http.errors import HTTPError
from tahoe_cloud.vocabulary import SECRET_BYTES


class SecretKind(enum.Enum):
    """The kinds of ``X-Tahoe-Authorization`` secrets, by their wire names."""

    LEASE_RENEW = "lease-renew-secret"
    LEASE_CANCEL = "lease-cancel-secret"
    UPLOAD = "upload-secret"
    WRITE_ENABLER = "write-enabler"


#: Accepted decoded lengths (inclusive). Lease secrets and write enablers are
#: 32-byte hashes in every stock client and fixed 32-byte fields in upstream's
#: containers. The stock client's upload secret is 20 random bytes; it is only
#: kept in memory, so a range of sane sizes is allowed.
SECRET_LENGTHS: dict[SecretKind, tuple[int, int]] = {
    SecretKind.LEASE_RENEW: (SECRET_BYTES, SECRET_BYTES),
    SecretKind.LEASE_CANCEL: (SECRET_BYTES, SECRET_BYTES),
    SecretKind.WRITE_ENABLER: (SECRET_BYTES, SECRET_BYTES),
    SecretKind.UPLOAD: (16, 64),
}

_BY_NAME = {kind.value.encode("ascii"): kind for kind in SecretKind}

#: A header value longer than this cannot hold a valid secret.
_MAX_HEADER_VALUE = 200

LEASE = frozenset({SecretKind.LEASE_RENEW, SecretKind.LEASE_CANCEL})
ALLOCATE = LEASE | {SecretKind.UPLOAD}
UPLOAD = frozenset({SecretKind.UPLOAD})
READ_TEST_WRITE = LEASE | {SecretKind.WRITE_ENABLER}
NONE: frozenset[SecretKind] = frozenset()


def authorization_value(swissnum: bytes) -> bytes:
    """The exact ``Authorization`` header value a client with ``swissnum`` sends."""
    return b"Tahoe-LAFS " + b64encode(swissnum)


def check_authorization_header(header_values: Sequence[bytes] | None, swissnum: bytes) -> None:
    """Raise 401 unless exactly one ``Authorization`` header carries ``swissnum``."""
    expected = authorization_value(swissnum)
    if not header_values or len(header_values) != 1:
        # Still do one comparison, so the timing does not tell the cases apart.
        hmac.compare_digest(expected, expected)
        raise HTTPError(http.UNAUTHORIZED, "missing or wrong Authorization header")
    if not hmac.compare_digest(header_values[0].strip(), expected):
        raise HTTPError(http.UNAUTHORIZED, "missing or wrong Authorization header")


def _bad(reason: str) -> HTTPError:
    return HTTPError(http.BAD_REQUEST, reason)


def _parse_one(value: bytes) -> tuple[SecretKind, bytes]:
    if len(value) > _MAX_HEADER_VALUE:
        raise _bad("X-Tahoe-Authorization header too long")
    parts = value.strip().split(b" ")
    if len(parts) != 2:
        raise _bad("X-Tahoe-Authorization must be '<kind> <base64>'")
    name, encoded = parts
    kind = _BY_NAME.get(name)
    if kind is None:
        raise _bad("unknown kind of secret in X-Tahoe-Authorization")
    try:
        secret = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{kind.value} is not valid base64") from None
    low, high = SECRET_LENGTHS[kind]
    if not secret:
        raise _bad(f"{kind.value} is empty")
    if not low <= len(secret) <= high:
        raise _bad(f"{kind.value} has the wrong length")
    return kind, secret


def parse_secrets(
    header_values: Sequence[bytes] | None, required: frozenset[SecretKind]
) -> dict[SecretKind, bytes]:
    """Decode the ``X-Tahoe-Authorization`` headers into exactly the ``required`` secrets."""
    found: dict[SecretKind, bytes] = {}
    for value in header_values or ():
        kind, secret = _parse_one(value)
        if kind in found:
            raise _bad(f"{kind.value} given more than once")
        if kind not in required:
            raise _bad(f"{kind.value} is not expected by this operation")
        found[kind] = secret
    missing = sorted(kind.value for kind in required if kind not in found)
    if missing:
        raise _bad("missing secrets: " + ", ".join(missing))
    return found
