"""``IShareEnumeration`` for cloud.s3: every storage index with a share, from two listings.

``shares/`` is the complete source: a storage index is there exactly when it
has a completed share (uploads in progress are multipart uploads, not
objects, until they are published), including one whose lease object a
crash lost. ``leases/`` is listed beside it, in the same order, only for
the lease objects' ``LastModified``: a lease object is written at every
lease change, so it bounds the last one without a GET. A lease object with
no share beside it (an upload in progress, or an orphan) is passed over.

Both listings start after the resume point with ``StartAfter`` and advance
together (a merge of two sorted streams), so a whole walk costs
ceil(share keys / 1,000) + at most ceil(lease objects / 1,000) LISTs and
nothing else. Keys are read back only with ``KeyLayout``'s strict parsers:
a foreign object is skipped, never misread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tahoe_cloud.backends.capabilities import StoredIndex
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.listing import ListedObject, list_objects
from tahoe_cloud.vocabulary import StorageIndex

#: Storage indexes per batch: about one page of ``shares/`` when each has one share.
S3_BATCH = 1000


async def storage_indexes(
    client: S3Client,
    keys: KeyLayout,
    after: StorageIndex | None = None,
    *,
    batch_size: int = S3_BATCH,
    page_size: int = 1000,
) -> AsyncIterator[list[StoredIndex]]:
    """Batches of the storage indexes with a share, in text order, strictly after ``after``.

    ``page_size``: keys per LIST (S3's most, 1,000; smaller only in tests).
    """
    shares = list_objects(
        client,
        keys.shares_root,
        page_size=page_size,
        start_after=None if after is None else keys.shares_start_after(after),
    )
    leases = _leases(client, keys, after, page_size)
    lease: tuple[StorageIndex, float] | None = None
    leases_done = False
    last: str | None = None
    batch: list[StoredIndex] = []
    async for obj in shares:
        share = keys.listed_share(obj.key)
        if share is None or share[0].text == last:
            continue
        si = share[0]
        last = si.text
        # Advance the lease listing to this storage index (never past it).
        while not leases_done and (lease is None or lease[0].text < si.text):
            lease = await anext(leases, None)
            leases_done = lease is None
        modified = (lease[1] or None) if lease is not None and lease[0] == si else None
        batch.append(StoredIndex(si, modified))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _leases(
    client: S3Client, keys: KeyLayout, after: StorageIndex | None, page_size: int
) -> AsyncIterator[tuple[StorageIndex, float]]:
    """(storage index, ``LastModified``; 0.0 if the service gave none) of each lease object."""
    start = None if after is None else keys.leases(after)
    obj: ListedObject
    async for obj in list_objects(client, keys.leases_root, page_size=page_size, start_after=start):
        si = keys.listed_lease(obj.key)
        if si is not None:
            yield si, obj.last_modified
