"""The server-wide rule for adding or renewing a lease.

Upstream's rule, applied by allocate, by the lease call and by mutable writes:
if a lease on the share has the presented renew secret, extend it (never
shortening it); otherwise add a new lease. The new lease keeps its secrets in
clear; the backend stores them hashed where its container format allows.
Renew secrets are compared in constant time (``Lease.renew_secret_matches``).

A share keeps at most ``MAX_LEASES_PER_SHARE`` leases: every lease is read
(and, on S3, rewritten) by each lease operation on its share, so without a
bound a client presenting fresh secrets could grow that work without end.
A real share has one lease per client that holds it, a handful; past the
bound a new secret is refused (``TooManyLeases``), renewals still work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import frozen

from tahoe_cloud.errors import TooManyLeases
from tahoe_cloud.server.messages import LeaseSecrets
from tahoe_cloud.vocabulary import NODEID_BYTES, Lease

# Upstream's owner numbers: 0 for the lease made by allocate, 1 for the lease
# call and mutable writes. Nothing reads them back; kept for fidelity.
ALLOCATE_OWNER = 0
LEASE_OWNER = 1

MAX_LEASES_PER_SHARE = 1000

#: How long a lease this server grants or renews lasts unless configured
#: otherwise: upstream's 31 days (clients renew about monthly).
DEFAULT_LEASE_DURATION = 31 * 24 * 60 * 60


@frozen
class LeaseGrant:
    """A lease to put on shares: who presents it, for how long, from which server."""

    secrets: LeaseSecrets
    expiration: int
    owner_num: int = LEASE_OWNER
    nodeid: bytes = b"\x00" * NODEID_BYTES

    def new_lease(self) -> Lease:
        return Lease(
            owner_num=self.owner_num,
            renew_secret=self.secrets.renew,
            cancel_secret=self.secrets.cancel,
            expiration=self.expiration,
            nodeid=self.nodeid,
        )


def add_or_renew(leases: Sequence[Lease], grant: LeaseGrant) -> list[Lease]:
    """The leases of one share after ``grant`` is applied."""
    result = []
    renewed = False
    for lease in leases:
        # Check every lease (no early exit): the time taken must not depend on
        # which lease matched.
        if lease.renew_secret_matches(grant.secrets.renew):
            lease = lease.renewed(grant.expiration)
            renewed = True
        result.append(lease)
    if not renewed:
        if len(result) >= MAX_LEASES_PER_SHARE:
            raise TooManyLeases(
                f"this share already has {MAX_LEASES_PER_SHARE} leases, the most this server"
                " keeps on one share; renewing one of them still works"
            )
        result.append(grant.new_lease())
    return result


def apply_to_shares(
    leases: Mapping[int, Sequence[Lease]],
    share_numbers: frozenset[int] | set[int],
    grant: LeaseGrant,
) -> dict[int, list[Lease]]:
    """New lease lists for ``share_numbers`` (shares without leases get a new one)."""
    return {shnum: add_or_renew(leases.get(shnum, ()), grant) for shnum in sorted(share_numbers)}


def only_changed(
    before: Mapping[int, Sequence[Lease]], after: Mapping[int, Sequence[Lease]]
) -> dict[int, list[Lease]]:
    """The entries of ``after`` that differ from ``before``: the lease writes actually needed.

    Expirations are whole seconds, so a lease renewed again within the same
    second is unchanged, and writing it would rewrite the same bytes (for the
    disk backend, another pool call and fsync per mutable write). Only the
    count and the expirations can differ between the two (a renewal keeps a
    lease's secrets), so no secret is compared here.
    """
    changed = {}
    for shnum, leases in after.items():
        old = before.get(shnum, ())
        if len(old) != len(leases) or any(
            a.expiration != b.expiration for a, b in zip(old, leases, strict=True)
        ):
            changed[shnum] = list(leases)
    return changed
