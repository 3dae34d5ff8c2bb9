"""``StorageServer``: the protocol-independent storage-server semantics, as one facade.

The HTTP front end decodes a request, calls one method here and encodes the
answer; everything a client could get wrong is checked here (or in the small
modules this one wires together), once, for every backend:

- ``immutable``: allocation, uploads, idle timeout;
- ``mutable``: read-test-write;
- ``lease_policy``: the add-or-renew rule; ``space``: available space;
- ``locks``: the per-storage-index lock every mutating backend call runs under.

Errors are the typed classes of ``tahoe_cloud.errors``; messages carry no secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twisted.internet.interfaces import IReactorTime

from tahoe_cloud import __version__
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.errors import InvalidRequest, NoSharesForStorageIndex, ShareNotFound
from tahoe_cloud.server.immutable import DEFAULT_UPLOAD_TIMEOUT, ImmutableUploads
from tahoe_cloud.server.lease_policy import (
    DEFAULT_LEASE_DURATION,
    LEASE_OWNER,
    LeaseGrant,
    apply_to_shares,
    only_changed,
)
from tahoe_cloud.server.lease_store import store_leases
from tahoe_cloud.server.locks import StorageIndexLocks
from tahoe_cloud.server.messages import (
    AllocationResult,
    ImmutableWriteResult,
    LeaseSecrets,
    ReadTestWriteResult,
    ReadVector,
    TestWriteVectors,
    VersionInfo,
)
from tahoe_cloud.server.mutable import MutableSlots
from tahoe_cloud.vocabulary import (
    NODEID_BYTES,
    Lease,
    ShareKind,
    StorageIndex,
    validate_corruption_reason,
    validate_share_number,
)

# The largest mutable share a server accepts unless configured otherwise. The
# stock client sends a whole MDMF share in one read-test-write request, held in
# memory while it is decoded, so this also bounds a request's memory; upstream
# advertises 69 PB, which no request could carry. 64 MiB shares hold MDMF files
# of about 190 MB with 3-of-10 encoding.
DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE = 64 * 1024 * 1024


def _check_range(offset: int, size: int) -> None:
    for value, what in ((offset, "offset"), (size, "size")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRequest(f"read {what} must be a non-negative integer")


class StorageServer:
    """The storage server's semantics over one ``IStorageBackend``. All methods are coroutines."""

    def __init__(
        self,
        backend: IStorageBackend,
        *,
        nodeid: bytes,
        clock: IReactorTime,
        readonly: bool = False,
        lease_duration: int = DEFAULT_LEASE_DURATION,
        upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
        maximum_mutable_share_size: int = DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE,
        application_version: bytes = b"tahoe-cloud/" + __version__.encode("ascii"),
    ) -> None:
        if len(nodeid) != NODEID_BYTES:
            raise ValueError(f"nodeid must be {NODEID_BYTES} bytes")
        self.backend = backend
        self.readonly = readonly
        self._nodeid = nodeid
        self._clock = clock
        self._lease_duration = lease_duration
        self._application_version = application_version
        #: What this server accepts and reports: its own cap, or the backend's if smaller.
        self.maximum_mutable_share_size = min(
            maximum_mutable_share_size, int(backend.maximum_mutable_share_size)
        )
        self.locks = StorageIndexLocks()
        self.uploads = ImmutableUploads(
            backend,
            self.locks,
            clock,
            grant=self._grant,
            readonly=readonly,
            timeout=upload_timeout,
        )
        self._mutable = MutableSlots(
            backend,
            self.locks,
            nodeid=nodeid,
            maximum_share_size=self.maximum_mutable_share_size,
            uploading=self.uploads.in_progress,
        )

    def _grant(self, secrets: LeaseSecrets, owner_num: int = LEASE_OWNER) -> LeaseGrant:
        """A lease running ``lease_duration`` from now, as this server grants it."""
        return LeaseGrant(
            secrets=secrets,
            expiration=int(self._clock.seconds()) + self._lease_duration,
            owner_num=owner_num,
            nodeid=self._nodeid,
        )

    @property
    def clock(self) -> IReactorTime:
        """The clock leases are granted by (and judged by, in ``tahoe_cloud.server.expiry``)."""
        return self._clock

    def busy(self, storage_index: StorageIndex) -> bool:
        """Whether an upload or a read-test-write of this storage index is in progress.

        An upload counts from allocate to publication or abort; a read-test-write
        from its call (waiting for the lock included) to its answer. No I/O.
        """
        return bool(self.uploads.in_progress(storage_index)) or self._mutable.in_progress(
            storage_index
        )

    # --- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        await self.backend.start()

    async def stop(self) -> None:
        """Abort every upload in progress, then stop the backend."""
        await self.uploads.abort_all()
        await self.backend.stop()

    async def get_version(self) -> VersionInfo:
        available = await self.uploads.space.available()
        return VersionInfo(
            maximum_immutable_share_size=available,
            maximum_mutable_share_size=self.maximum_mutable_share_size,
            available_space=available,
            application_version=self._application_version,
        )

    # --- immutable -----------------------------------------------------------

    async def allocate_buckets(
        self,
        storage_index: StorageIndex,
        *,
        lease: LeaseSecrets,
        upload_secret: bytes,
        share_numbers: frozenset[int],
        allocated_size: int,
        client: str | None = None,
    ) -> AllocationResult:
        """``client`` names the requester (its address) for the per-client upload cap."""
        return await self.uploads.allocate(
            storage_index,
            lease=lease,
            upload_secret=upload_secret,
            share_numbers=share_numbers,
            allocated_size=allocated_size,
            client=client,
        )

    async def write_immutable(
        self,
        storage_index: StorageIndex,
        share_number: int,
        *,
        upload_secret: bytes,
        offset: int,
        data: bytes,
    ) -> ImmutableWriteResult:
        return await self.uploads.write(
            storage_index, share_number, upload_secret=upload_secret, offset=offset, data=data
        )

    async def abort_immutable(
        self, storage_index: StorageIndex, share_number: int, *, upload_secret: bytes
    ) -> None:
        await self.uploads.abort(storage_index, share_number, upload_secret=upload_secret)

    async def _list(self, storage_index: StorageIndex, kind: ShareKind) -> frozenset[int]:
        async with self.backend.shareset(storage_index) as shares:
            listing = await shares.list_shares()
        return frozenset(n for n, k in listing.items() if k is kind)

    async def list_immutable_shares(self, storage_index: StorageIndex) -> frozenset[int]:
        """Completed immutable shares (uploads in progress are not listed)."""
        return await self._list(storage_index, ShareKind.IMMUTABLE)

    async def read_immutable(
        self, storage_index: StorageIndex, share_number: int, offset: int, size: int
    ) -> bytes:
        """Up to ``size`` bytes at ``offset``; truncated at the end, ``b""`` past it."""
        validate_share_number(share_number)
        _check_range(offset, size)
        async with self.backend.shareset(storage_index) as shares:
            share = await shares.open_immutable(share_number)
            return bytes(await share.read(offset, size))

    # --- leases --------------------------------------------------------------

    async def add_or_renew_lease(self, storage_index: StorageIndex, lease: LeaseSecrets) -> None:
        """Renew the lease with this renew secret on every share, or add one."""
        async with self.locks.hold(storage_index), self.backend.shareset(storage_index) as shares:
            leases = await shares.read_leases()
            if not leases:
                raise NoSharesForStorageIndex("no shares for this storage index")
            renewed = apply_to_shares(leases, set(leases), self._grant(lease))
            changed = only_changed(leases, renewed)
            if changed:
                await store_leases(shares, storage_index, changed, "a lease renewal")

    async def get_leases(self, storage_index: StorageIndex) -> dict[int, list[Lease]]:
        """Every completed share's leases (for tests and the test-only lease view)."""
        async with self.backend.shareset(storage_index) as shares:
            return await shares.read_leases()

    # --- corruption advisories -----------------------------------------------

    async def advise_corrupt_share(
        self, kind: ShareKind, storage_index: StorageIndex, share_number: int, reason: bytes
    ) -> None:
        """Record a client's corruption report; ``ShareNotFound`` for a share not held."""
        if not isinstance(kind, ShareKind):
            raise InvalidRequest("unknown share kind")
        validate_share_number(share_number)
        validate_corruption_reason(reason)
        if share_number not in await self._list(storage_index, kind):
            raise ShareNotFound(f"no {kind.value} share {share_number} for this storage index")
        await self.backend.add_corruption_advisory(kind, storage_index, share_number, reason)

    # --- mutable -------------------------------------------------------------

    async def read_test_write(
        self,
        storage_index: StorageIndex,
        *,
        write_enabler: bytes,
        lease: LeaseSecrets,
        vectors: Mapping[int, TestWriteVectors],
        read_vector: Sequence[ReadVector],
    ) -> ReadTestWriteResult:
        return await self._mutable.read_test_write(
            storage_index,
            write_enabler=write_enabler,
            grant=self._grant(lease),
            vectors=vectors,
            read_vector=read_vector,
        )

    async def list_mutable_shares(self, storage_index: StorageIndex) -> frozenset[int]:
        return await self._list(storage_index, ShareKind.MUTABLE)

    async def read_mutable(
        self, storage_index: StorageIndex, share_number: int, offset: int, size: int
    ) -> bytes:
        validate_share_number(share_number)
        _check_range(offset, size)
        async with self.backend.shareset(storage_index) as shares:
            share = await shares.open_mutable(share_number)
            return bytes(await share.read(offset, size))
