"""The shares of one storage index in the bucket: listing, opening, leases, deletion.

Requests per operation (see docs/s3.md for the measured counts):
``list_shares`` is answered from the node's listing cache
(``sharecache``) when the storage index is known there, else one LIST
(paginated) of ``shares/{pp}/{si}/``, whose answer fills the cache; opening
an immutable share costs nothing (its size comes from the cache, or from
the Content-Range of its first ranged GET), a mutable one nothing when its
head is in the small head cache; ``read_leases`` is one GET of the lease
object (no GET when there are no shares, see ``_presume_no_leases``);
``write_leases`` one conditional PUT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IShareSet, ShareSetClosed
from tahoe_cloud.backends.s3.immutable import S3ImmutableShare
from tahoe_cloud.backends.s3.mutable import S3MutableShare
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import (
    delete_object,
    delete_objects,
    get_object,
    put_object,
)
from tahoe_cloud.backends.s3.records import decode_head, decode_leases, encode_leases
from tahoe_cloud.backends.s3.store import ShareStore
from tahoe_cloud.backends.s3.upload import S3ImmutableUpload
from tahoe_cloud.errors import BackendError, ShareNotFound, TooManyLeases
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex, WriteEnabler

# One lease object holds the leases of every share of its storage index and is
# rewritten whole by each lease change; the core bounds leases per share
# (``MAX_LEASES_PER_SHARE``), this bounds the object (about 100 bytes a lease)
# for a storage index with many shares. Real ones hold a few leases per share.
MAX_LEASES_PER_OBJECT = 20_000


def _check_object_bound(before: dict[int, list[Lease]], after: dict[int, list[Lease]]) -> None:
    total = sum(map(len, after.values()))
    if total > MAX_LEASES_PER_OBJECT and total > sum(map(len, before.values())):
        raise TooManyLeases(
            f"the shares of this storage index already have {MAX_LEASES_PER_OBJECT} leases,"
            " the most this server keeps; renewing one of them still works"
        )


# Conditional lease-object updates that lose a race are redone this many times.
LEASE_UPDATE_ATTEMPTS = 3


@implementer(IShareSet)
class S3ShareSet:
    def __init__(self, store: ShareStore, storage_index: StorageIndex) -> None:
        self.store = store
        self.storage_index = storage_index
        # What this handle has seen (the core uses one handle per locked operation).
        self._listing: dict[int, ShareKind] | None = None
        self._lease_doc: tuple[str | None, dict[int, list[Lease]]] | None = None
        self._closed = False

    def close(self) -> None:
        """End of the operation: the public methods refuse from now on.

        An upload started in the block still publishes through ``set_leases_of``
        and ``note_published``. The lease object it then writes over is the one
        seen here only when conditional writes will catch it being stale;
        without them it is read again.
        """
        self._closed = True
        self._listing = None
        if not self.store.conditional_writes:
            self._lease_doc = None

    def _check_open(self) -> None:
        if self._closed:
            raise ShareSetClosed(f"the share set of {self.storage_index} was used after its block")

    # --- listing and opening ------------------------------------------------

    async def list_shares(self) -> dict[int, ShareKind]:
        self._check_open()
        listing = await self.store.shares_of(self.storage_index)
        self._listing = listing
        if not listing:
            self._presume_no_leases()
        return dict(listing)

    def _presume_no_leases(self) -> None:
        """No shares: presume no lease object, saving its GET.

        The first lease write is then a create-only PUT (``If-None-Match: *``);
        if a lease object exists after all (left by a crash mid-publish), S3
        answers 412 and the write reads it and is redone. Without conditional
        writes nothing would catch that: the object is read first then.
        """
        if self._lease_doc is None and self.store.conditional_writes:
            self._lease_doc = (None, {})

    def note_published(self, share_number: int, kind: ShareKind) -> None:
        if self._listing is not None:
            self._listing[share_number] = kind

    async def open_immutable(self, share_number: int) -> S3ImmutableShare:
        """No request: the size comes from the listing cache when the storage
        index is known there (and a share known absent is ``ShareNotFound``
        at once). Otherwise the share is opened with its size unknown: its
        first read is a ranged GET, which says the size (Content-Range) or
        that the share does not exist (``ShareNotFound`` from the read)."""
        self._check_open()
        si = self.storage_index
        size = self.store.immutable_size(si, share_number)
        if size is None and self._listing is not None:
            size = -1 if self._listing.get(share_number) is not ShareKind.IMMUTABLE else None
        if size is not None and size < 0:
            raise ShareNotFound(f"no immutable share {share_number}")
        return S3ImmutableShare(self.store, si, share_number, size)

    async def start_immutable_upload(
        self, share_number: int, allocated_size: int
    ) -> S3ImmutableUpload:
        self._check_open()
        return S3ImmutableUpload(self, share_number, allocated_size)

    async def open_mutable(self, share_number: int) -> S3MutableShare:
        self._check_open()
        si = self.storage_index
        cached = self.store.cached_head(si, share_number)
        if cached is None:
            if (
                self._listing is not None
                and self._listing.get(share_number) is not ShareKind.MUTABLE
            ):
                raise ShareNotFound(f"no mutable share {share_number}")
            key = self.store.keys.mutable_head(si, share_number)
            try:
                result = await get_object(self.store.client, key)
            except S3Error as e:
                if e.not_found:
                    raise ShareNotFound(f"no mutable share {share_number}") from None
                raise
            cached = (result.etag, decode_head(result.body, key))
            self.store.remember_head(si, share_number, *cached)
        etag, head = cached
        return S3MutableShare(self, share_number, head=head, etag=etag)

    def new_mutable(self, share_number: int, write_enabler: WriteEnabler) -> S3MutableShare:
        self._check_open()
        return S3MutableShare(
            self, share_number, head=None, etag=None, new_write_enabler=write_enabler
        )

    # --- leases -------------------------------------------------------------

    async def _load_leases(self) -> tuple[str | None, dict[int, list[Lease]]]:
        key = self.store.keys.leases(self.storage_index)
        try:
            result = await get_object(self.store.client, key)
        except S3Error as e:
            if e.not_found:
                return None, {}
            raise
        return result.etag, decode_leases(result.body, key)

    async def read_leases(self) -> dict[int, list[Lease]]:
        self._check_open()
        listing = self._listing if self._listing is not None else await self.list_shares()
        if self._lease_doc is None:
            self._lease_doc = await self._load_leases()
        stored = self._lease_doc[1]
        return {n: list(stored.get(n, [])) for n in listing}

    async def _update_leases(self, change: Callable[[dict[int, list[Lease]]], None]) -> None:
        """Read-modify-write of the lease object by conditional PUT (redone on a lost race)."""
        key = self.store.keys.leases(self.storage_index)
        for _ in range(LEASE_UPDATE_ATTEMPTS):
            etag, stored = (
                self._lease_doc if self._lease_doc is not None else await self._load_leases()
            )
            self._lease_doc = None
            updated = {n: list(ls) for n, ls in stored.items()}
            change(updated)
            _check_object_bound(stored, updated)
            try:
                if not updated:
                    await delete_object(self.store.client, key)
                    self._lease_doc = (None, {})
                    return
                new_etag = await put_object(
                    self.store.client,
                    key,
                    encode_leases(updated),
                    if_match=etag,
                    if_none_match=etag is None,
                )
            except S3Error as e:
                if e.precondition_failed:
                    continue  # changed under us: read it again and redo the change
                raise
            self._lease_doc = (new_etag, updated)
            return
        raise BackendError("the lease object keeps changing under this server; giving up")

    async def write_leases(self, leases: Mapping[int, Sequence[Lease]]) -> None:
        self._check_open()
        listing = self._listing

        def change(stored: dict[int, list[Lease]]) -> None:
            for n, share_leases in leases.items():
                stored[n] = [lease.to_hashed() for lease in share_leases]
            if listing is not None:
                # Drop leases of shares that are gone (deleted, or a publish that failed).
                for n in [n for n in stored if n not in listing and n not in leases]:
                    del stored[n]

        await self._update_leases(change)

    async def set_leases_of(self, share_number: int, leases: Sequence[Lease]) -> None:
        """Used by ``publish``: store the leases of a share about to appear."""

        def change(stored: dict[int, list[Lease]]) -> None:
            stored[share_number] = [lease.to_hashed() for lease in leases]

        await self._update_leases(change)

    # --- deletion -----------------------------------------------------------

    async def delete_share(self, share_number: int) -> None:
        self._check_open()
        si = self.storage_index
        store = self.store
        kind = None if self._listing is None else self._listing.get(share_number)
        store.changing(si)
        try:
            if kind is not ShareKind.MUTABLE:
                await delete_object(store.client, store.keys.immutable(si, share_number))
                store.deleted_immutable(si, share_number)
            if kind is not ShareKind.IMMUTABLE:
                await self._delete_mutable(share_number)
        except S3Error:
            store.forget_listing(si)
            raise
        if self._listing is not None:
            self._listing.pop(share_number, None)

        def change(stored: dict[int, list[Lease]]) -> None:
            stored.pop(share_number, None)

        await self._update_leases(change)

    async def _delete_mutable(self, share_number: int) -> None:
        si = self.storage_index
        store = self.store
        try:
            share = await self.open_mutable(share_number)
        except ShareNotFound:
            return
        head = share.head
        # The head goes first: from then on the share is gone, whatever happens to its chunks.
        await delete_object(store.client, store.keys.mutable_head(si, share_number))
        old_len = 0 if head is None else head.length
        store.forget_mutable(si, share_number, freed=old_len, deleted=True)
        if head is not None and head.inline is None:
            chunks = [
                store.keys.chunk(si, share_number, i, gen)
                for i, gen in enumerate(head.chunks)
                if gen is not None
            ]
            await delete_objects(store.client, chunks)
