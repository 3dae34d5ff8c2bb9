"""The lease value type shared by the server core, the formats and the backends.

A lease keeps a share alive until ``expiration`` (Unix seconds). The client
proves it owns a lease with the renew secret (to extend it) or the cancel
secret. Upstream's version-2 containers store only ``blake2b(secret, 32)``
of each secret, so a stolen share file does not reveal them; new leases made
by tahoe-cloud are stored hashed wherever the container allows it.
Comparisons are constant-time in both forms.
"""

from __future__ import annotations

import hashlib
import hmac

from attrs import evolve, frozen

SECRET_BYTES = 32
NODEID_BYTES = 20
DEFAULT_LEASE_DURATION = 31 * 24 * 60 * 60


def hash_lease_secret(secret: bytes) -> bytes:
    """The digest upstream's version-2 containers keep instead of a secret."""
    return hashlib.blake2b(secret, digest_size=SECRET_BYTES).digest()


@frozen(repr=False)
class Lease:
    """One lease on one share.

    ``renew_secret`` and ``cancel_secret`` hold the secrets themselves when
    ``hashed`` is false, or their blake2b digests when it is true.
    ``nodeid`` only has meaning in mutable containers (20 bytes there).
    """

    owner_num: int
    renew_secret: bytes
    cancel_secret: bytes
    expiration: int
    nodeid: bytes = b"\x00" * NODEID_BYTES
    hashed: bool = False

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

    ``nodeid`` (20 bytes) is the id of the server that stored the share;
    upstream containers record it beside the 32-byte ``secret``.
    """

    nodeid: bytes
    secret: bytes

    def __repr__(self) -> str:
        return "WriteEnabler(<secret>)"

    def matches(self, presented: bytes) -> bool:
        """Constant-time check of a presented write enabler."""
        return hmac.compare_digest(self.secret, presented)
