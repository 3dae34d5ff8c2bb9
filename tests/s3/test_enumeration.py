"""cloud.s3's ``IShareEnumeration``: what it finds from the key layout alone, and its cost.

The objects are put directly (the enumeration reads keys and ``LastModified``
only, never a body), so the tests can hold thousands of storage indexes and
the cases a running node makes only after a crash: a share without its lease
object, a lease object without a share, foreign keys.
"""

from __future__ import annotations

import math
import time

import pytest
import pytest_twisted

from tahoe_cloud.backends.capabilities import IShareEnumeration, StoredIndex, enumeration_key
from tahoe_cloud.backends.s3 import enumeration
from tahoe_cloud.backends.s3.keys import KeyLayout, validate_prefix
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.objects import put_object
from tahoe_cloud.testing.support import new_si
from tahoe_cloud.vocabulary import StorageIndex
from tests.s3.conftest import S3Service, make_client, memory_service
from tests.support.s3 import new_bucket

pytestmark = pytest.mark.s3

KEYS = KeyLayout(validate_prefix("node1"))


async def walk(
    client: S3Client, after: StorageIndex | None = None, **kwargs: int
) -> list[list[StoredIndex]]:
    return [b async for b in enumeration.storage_indexes(client, KEYS, after, **kwargs)]


def flat(batches: list[list[StoredIndex]]) -> list[StoredIndex]:
    return [item for batch in batches for item in batch]


async def populate(client: S3Client, count: int) -> tuple[list[StorageIndex], set[StorageIndex]]:
    """``count`` storage indexes with shares (in order); those whose lease object is missing.

    Every fifth has two shares (one mutable); every seventh lost its lease
    object; besides them: lease objects without shares, and foreign keys.
    """
    sis = sorted((new_si() for _ in range(count)), key=enumeration_key)
    without_lease = set(sis[::7])
    for i, si in enumerate(sis):
        await put_object(client, KEYS.immutable(si, 0), b"share")
        if i % 5 == 0:
            await put_object(client, KEYS.mutable_head(si, 3), b"head")
        if si not in without_lease:
            await put_object(client, KEYS.leases(si), b"leases")
    for _ in range(3):
        await put_object(client, KEYS.leases(new_si()), b"an upload in progress, or an orphan")
    stray = sis[1]
    for key in (
        f"{KEYS.shares_root}{stray.prefix}/{stray.text}/01",  # not a canonical share number
        f"{KEYS.shares_root}{stray.prefix}/{stray.text}x/0",  # not a storage index
        f"{KEYS.shares_root}zz/{stray.text}/0",  # under the wrong prefix directory
        f"{KEYS.shares_root}readme",
        f"{KEYS.leases_root}{stray.prefix}/{stray.text}/extra",
    ):
        await put_object(client, key, b"not ours")
    return sis, without_lease


def test_the_backend_provides_it() -> None:
    from tahoe_cloud.backends.s3.backend import S3Backend

    assert IShareEnumeration.implementedBy(S3Backend)


def test_start_after_keys_bracket_one_storage_index() -> None:
    si = new_si()
    start = KEYS.shares_start_after(si)
    assert KEYS.immutable(si, 255) < start and KEYS.mutable_head(si, 255) < start
    assert KEYS.listed_share(KEYS.mutable_head(si, 9)) is not None
    assert KEYS.listed_share(start) is None
    assert KEYS.listed_lease(KEYS.leases(si)) == si
    assert KEYS.listed_lease(KEYS.leases(si) + "/x") is None


@pytest_twisted.ensureDeferred
async def test_finds_every_storage_index_with_a_share(bucket_client: S3Client) -> None:
    sis, without_lease = await populate(bucket_client, 40)
    listed = {o.key: o.last_modified for o in await list_all(bucket_client, KEYS.leases_root)}
    batches = await walk(bucket_client, page_size=7, batch_size=6)
    assert all(0 < len(b) <= 6 for b in batches)
    found = flat(batches)
    assert [item.storage_index for item in found] == sis
    for item in found:
        if item.storage_index in without_lease:
            assert item.leases_modified is None
        else:
            assert item.leases_modified == listed[KEYS.leases(item.storage_index)]
            assert abs(item.leases_modified - time.time()) < 3600
    for i in range(0, len(sis), 3):
        rest = flat(await walk(bucket_client, sis[i], page_size=7))
        assert [item.storage_index for item in rest] == sis[i + 1 :]
        assert rest == found[i + 1 :]


@pytest_twisted.ensureDeferred
async def test_request_cost_small_pages(bucket_client: S3Client) -> None:
    """ceil(keys / page) LISTs per listing, nothing else (pages of 10 stand for 1,000)."""
    await populate(bucket_client, 33)
    share_keys = len(await list_all(bucket_client, KEYS.shares_root))
    lease_keys = len(await list_all(bucket_client, KEYS.leases_root))
    bucket_client.request_counts.clear()
    await walk(bucket_client, page_size=10)
    lists = bucket_client.request_counts["ListObjectsV2"]
    assert lists <= math.ceil(share_keys / 10) + math.ceil(lease_keys / 10)
    assert lists >= math.ceil(share_keys / 10) + 1
    assert set(bucket_client.request_counts) == {"ListObjectsV2"}


@pytest_twisted.ensureDeferred
async def test_request_cost_at_full_pages() -> None:
    """2,100 storage indexes on the in-memory S3: ceil(keys / 1,000) LISTs, no GET or HEAD."""
    service: S3Service = memory_service()
    client = make_client(service, await new_bucket(service))
    try:
        sis = sorted((new_si() for _ in range(2100)), key=enumeration_key)
        for si in sis:
            await put_object(client, KEYS.immutable(si, 0), b"s")
            await put_object(client, KEYS.leases(si), b"l")
        client.request_counts.clear()
        batches = await walk(client)
        assert [item.storage_index for item in flat(batches)] == sis
        assert [len(b) for b in batches] == [1000, 1000, 100]
        # 3 pages of shares/ and 3 of leases/: 2 LISTs per 1,000 storage indexes.
        assert dict(client.request_counts) == {"ListObjectsV2": 6}
    finally:
        await client.close()
