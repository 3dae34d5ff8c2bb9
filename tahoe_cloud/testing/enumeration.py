"""``IShareEnumeration``: the walk over every storage index, when the backend offers it.

Every test here is skipped, saying why, for a backend that does not provide
the capability: it is optional, and such a backend must only not claim it.
For one that does, a walk yields each storage index with a completed share
once, in ``enumeration_key`` order, never one with only an upload in
progress, and resumes after any storage index with exactly the rest.
"""

from __future__ import annotations

import math

import pytest

from tahoe_cloud.backends.capabilities import IShareEnumeration, StoredIndex, enumeration_key
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.harness import BackendHarness
from tahoe_cloud.testing.mutable import rtw, tw
from tahoe_cloud.testing.reactor import async_test
from tahoe_cloud.testing.support import (
    lease_secrets,
    new_si,
    upload_secret,
    upload_share,
    write_enabler,
)
from tahoe_cloud.vocabulary import StorageIndex


def enumerating(backend: IStorageBackend) -> IShareEnumeration:
    """``backend`` as an ``IShareEnumeration``, or skip the test saying it has none."""
    if not IShareEnumeration.providedBy(backend):
        pytest.skip(
            f"{type(backend).__name__} does not provide IShareEnumeration (an optional capability)"
        )
    return backend


async def walk(backend: IStorageBackend, after: StorageIndex | None = None) -> list[StoredIndex]:
    """Every batch of one walk, checked (non-empty), joined."""
    found: list[StoredIndex] = []
    async for batch in enumerating(backend).storage_indexes(after):
        assert batch, "a batch is never empty"
        assert all(isinstance(item, StoredIndex) for item in batch)
        found.extend(batch)
    return found


def indexes(found: list[StoredIndex]) -> list[StorageIndex]:
    return [item.storage_index for item in found]


def in_order(sis: set[StorageIndex]) -> list[StorageIndex]:
    return sorted(sis, key=enumeration_key)


class EnumerationTests(BackendHarness):
    """The optional ``IShareEnumeration`` capability, checked where a backend provides it."""

    async def _store(self, server: StorageServer) -> set[StorageIndex]:
        """Storage indexes with completed shares: immutable (one or two) and mutable."""
        stored: set[StorageIndex] = set()
        for i in range(5):
            si = new_si()
            await upload_share(server, si, 0, b"share %d" % i)
            if i % 2:
                await upload_share(server, si, 7, b"another")
            stored.add(si)
        for _ in range(2):
            si = new_si()
            assert (await rtw(server, si, write_enabler(), {3: tw((0, b"m"))})).success
            stored.add(si)
        return stored

    @async_test
    async def test_empty(self, backend: IStorageBackend) -> None:
        assert await walk(backend) == []
        assert await walk(backend, new_si()) == []

    @async_test
    async def test_every_completed_storage_index_once_in_order(
        self, backend: IStorageBackend, server: StorageServer
    ) -> None:
        stored = await self._store(server)
        # An upload in progress (allocated, half written) is not a stored storage index.
        pending, secret = new_si(), upload_secret()
        await server.allocate_buckets(
            pending,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({0}),
            allocated_size=10,
        )
        await server.write_immutable(pending, 0, upload_secret=secret, offset=0, data=b"12345")
        found = await walk(backend)
        assert indexes(found) == in_order(stored)
        for item in found:
            modified = item.leases_modified
            assert modified is None or (isinstance(modified, float) and math.isfinite(modified))

    @async_test
    async def test_resume_after_any_index_yields_exactly_the_rest(
        self, backend: IStorageBackend, server: StorageServer
    ) -> None:
        everything = in_order(await self._store(server))
        for i, si in enumerate(everything):
            assert indexes(await walk(backend, si)) == everything[i + 1 :]
        # After a storage index the backend does not hold: those after it in the order.
        for _ in range(5):
            elsewhere = new_si()
            expected = [si for si in everything if enumeration_key(si) > enumeration_key(elsewhere)]
            assert indexes(await walk(backend, elsewhere)) == expected

    @async_test
    async def test_deleted_storage_indexes_vanish(
        self, backend: IStorageBackend, server: StorageServer
    ) -> None:
        immutable, kept, we = new_si(), new_si(), write_enabler()
        await upload_share(server, immutable, 0, b"abc")
        await upload_share(server, immutable, 1, b"def")
        await upload_share(server, kept, 2, b"ghi")
        mutable = new_si()
        assert (await rtw(server, mutable, we, {0: tw((0, b"x"))})).success
        assert set(indexes(await walk(backend))) == {immutable, kept, mutable}
        async with backend.shareset(immutable) as shares:
            await shares.delete_share(0)
        assert set(indexes(await walk(backend))) == {immutable, kept, mutable}  # share 1 is left
        async with backend.shareset(immutable) as shares:
            await shares.delete_share(1)
        assert (await rtw(server, mutable, we, {0: tw(new_length=0)})).success
        assert indexes(await walk(backend)) == [kept]
