"""The lease checker's step for one storage index: judge its leases, remove the expired ones.

``LeaseChecker.examine(si)`` applies an ``ExpiryPolicy``
(``tahoe_cloud.server.expiry_policy``) to the shares of one storage index and
returns a ``StorageIndexReport`` (``tahoe_cloud.server.expiry_report``). It
runs under the storage index's lock, the one every mutating call of the
server takes, so no upload publication, mutable write, lease renewal or
allocation runs at the same time, and everything it decides on (the listing,
the leases, the clock) is read after the lock is taken: a lease renewed
before is seen, one renewed after waits for the step to end.

- A storage index with an upload in progress, or a read-test-write running
  or waiting for the lock, is skipped (``skipped_busy``), checked before
  waiting for the lock, after taking it, and again just before the first
  change. Nothing of it is examined or changed.
- A lease is expired by ``ExpiryPolicy.lease_expired`` at the time read
  under the lock. Only shares of a kind the policy selects
  (``expire.immutable``/``expire.mutable``) are judged; the others are only
  counted (shares, leases, histogram) and are left alone.
- A share of a selected kind with no unexpired lease (including one with no
  lease at all) is reclaimed: deleted with its leases. A share with some
  expired and some unexpired leases keeps the unexpired ones (one
  ``write_leases`` for all such shares of the index).
- With the policy disabled (report-only, as upstream's checker runs with
  ``expire.enabled = false``) the same figures are computed and nothing is
  changed.

Requests per storage index: one listing, one lease read, at most one lease
write, and for each share reclaimed (or that would be) one ``size()`` (an
open and a size: at most one request for an object store) and one delete.
Shares that are kept cost nothing beyond the listing and the lease read.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IReactorTime

from tahoe_cloud.backends.interfaces import IShareSet, IStorageBackend
from tahoe_cloud.server.expiry_policy import ExpiryPolicy, age_bucket
from tahoe_cloud.server.expiry_report import StorageIndexReport
from tahoe_cloud.server.lease_store import store_leases
from tahoe_cloud.server.locks import StorageIndexLocks
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex


async def _share_size(shares: IShareSet, kind: ShareKind, share_number: int) -> int:
    if kind is ShareKind.IMMUTABLE:
        return int(await (await shares.open_immutable(share_number)).size())
    return int(await (await shares.open_mutable(share_number)).size())


class LeaseChecker:
    """Examines storage indexes one at a time, by one ``ExpiryPolicy``."""

    def __init__(
        self,
        backend: IStorageBackend,
        locks: StorageIndexLocks,
        clock: IReactorTime,
        policy: ExpiryPolicy,
        *,
        busy: Callable[[StorageIndex], bool] = lambda si: False,
    ) -> None:
        """``busy(si)``: whether an upload or read-test-write of ``si`` is in progress. No I/O."""
        self._backend = backend
        self._locks = locks
        self._clock = clock
        self._busy = busy
        self.policy = policy

    @classmethod
    def for_server(cls, server: StorageServer, policy: ExpiryPolicy) -> LeaseChecker:
        """A checker of ``server``'s shares, under its locks, by its clock."""
        return cls(server.backend, server.locks, server.clock, policy, busy=server.busy)

    async def examine(self, storage_index: StorageIndex) -> StorageIndexReport:
        """Judge, and when enabled reclaim, the shares of one storage index (module doc)."""
        if self._busy(storage_index):
            return StorageIndexReport(skipped_busy=True)
        async with self._locks.hold(storage_index):
            if self._busy(storage_index):
                return StorageIndexReport(skipped_busy=True)
            async with self._backend.shareset(storage_index) as shares:
                return await self._examine(storage_index, shares)

    async def _examine(self, storage_index: StorageIndex, shares: IShareSet) -> StorageIndexReport:
        policy = self.policy
        report = StorageIndexReport(deleted=policy.enabled)
        listing = await shares.list_shares()
        if not listing:
            return report
        leases = await shares.read_leases()
        now = self._clock.seconds()
        keep: dict[int, list[Lease]] = {}
        reclaim: dict[int, ShareKind] = {}
        for shnum, kind in sorted(listing.items()):
            counts = report[kind]
            share_leases = leases.get(shnum, [])
            counts.shares_examined += 1
            counts.leases_examined += len(share_leases)
            n = len(share_leases)
            counts.leases_per_share[n] = counts.leases_per_share.get(n, 0) + 1
            for lease in share_leases:
                bucket = age_bucket(policy.age(lease, now))
                counts.lease_age_histogram[bucket] = counts.lease_age_histogram.get(bucket, 0) + 1
            if not policy.selects(kind):
                continue
            unexpired = [lease for lease in share_leases if not policy.lease_expired(lease, now)]
            counts.leases_expired += n - len(unexpired)
            if not unexpired:
                reclaim[shnum] = kind
            elif len(unexpired) < n:
                keep[shnum] = unexpired
        sizes = {shnum: await _share_size(shares, kind, shnum) for shnum, kind in reclaim.items()}
        for shnum, kind in reclaim.items():
            report[kind].shares_reclaimed += 1
            report[kind].bytes_reclaimed += sizes[shnum]
        if not policy.enabled or not (keep or reclaim):
            return report
        # Nothing may have started in the awaits above (every such call waits
        # for this lock, and counts as busy while it waits), but check: a
        # share is never changed under an upload or a read-test-write.
        if self._busy(storage_index):
            return StorageIndexReport(skipped_busy=True)
        if keep:
            await store_leases(shares, storage_index, keep, "lease expiry")
        for shnum in sorted(reclaim):
            await shares.delete_share(shnum)
        return report
