"""Leases, corruption advisories and version information."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.errors import InvalidRequest, NoSharesForStorageIndex, ShareNotFound
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.lease_policy import DEFAULT_LEASE_DURATION
from tahoe_cloud.server.messages import ReadVector
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import ShareKind, WriteVector
from tests.conformance.support import (
    DAY,
    START_TIME,
    lease_secrets,
    make_server,
    new_si,
    upload_secret,
    upload_share,
    write_enabler,
)


def expirations(leases: Mapping[int, Sequence[object]]) -> dict[int, list[int]]:
    return {n: sorted(lease.expiration for lease in ls) for n, ls in leases.items()}  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred
async def test_upload_gets_a_lease(server: StorageServer) -> None:
    si = new_si()
    lease = lease_secrets()
    await upload_share(server, si, 0, b"abc", lease=lease)
    leases = await server.get_leases(si)
    assert expirations(leases) == {0: [START_TIME + DEFAULT_LEASE_DURATION]}
    assert leases[0][0].renew_secret_matches(lease.renew)
    assert leases[0][0].cancel_secret_matches(lease.cancel)
    assert "renew" not in repr(leases[0][0])


@pytest_twisted.ensureDeferred
async def test_renew_and_add(server: StorageServer, clock: Clock) -> None:
    si = new_si()
    first, second = lease_secrets(), lease_secrets()
    await upload_share(server, si, 0, b"abc", lease=first)
    await upload_share(server, si, 1, b"def", lease=first)
    clock.advance(DAY)
    await server.add_or_renew_lease(si, first)  # same renew secret: renewed in place
    renewed = START_TIME + DAY + DEFAULT_LEASE_DURATION
    assert expirations(await server.get_leases(si)) == {0: [renewed], 1: [renewed]}
    await server.add_or_renew_lease(si, second)  # another secret: a second lease
    assert expirations(await server.get_leases(si)) == {0: [renewed] * 2, 1: [renewed] * 2}


@pytest_twisted.ensureDeferred
async def test_renewal_never_shortens(backend: IStorageBackend, clock: Clock) -> None:
    si = new_si()
    lease = lease_secrets()
    long = make_server(backend, clock, lease_duration=10 * DEFAULT_LEASE_DURATION)
    await long.start()
    await upload_share(long, si, 0, b"abc", lease=lease)
    await long.stop()
    server = make_server(backend, clock)
    await server.start()
    try:
        await server.add_or_renew_lease(si, lease)
        assert expirations(await server.get_leases(si)) == {
            0: [START_TIME + 10 * DEFAULT_LEASE_DURATION]
        }
    finally:
        await server.stop()


@pytest_twisted.ensureDeferred
async def test_lease_without_shares(server: StorageServer) -> None:
    with pytest.raises(NoSharesForStorageIndex):
        await server.add_or_renew_lease(new_si(), lease_secrets())
    # An upload in progress is not a share yet.
    si = new_si()
    await server.allocate_buckets(
        si,
        lease=lease_secrets(),
        upload_secret=upload_secret(),
        share_numbers=frozenset({0}),
        allocated_size=5,
    )
    with pytest.raises(NoSharesForStorageIndex):
        await server.add_or_renew_lease(si, lease_secrets())


@pytest_twisted.ensureDeferred
async def test_allocate_renews_leases_on_existing_shares(
    server: StorageServer, clock: Clock
) -> None:
    si = new_si()
    first, second = lease_secrets(), lease_secrets()
    await upload_share(server, si, 0, b"abc", lease=first)
    clock.advance(DAY)
    for lease in (first, second):
        await server.allocate_buckets(
            si,
            lease=lease,
            upload_secret=upload_secret(),
            share_numbers=frozenset({0}),
            allocated_size=3,
        )
    later = START_TIME + DAY + DEFAULT_LEASE_DURATION
    assert expirations(await server.get_leases(si)) == {0: [later, later]}


@pytest_twisted.ensureDeferred
async def test_lease_on_mutable_shares(server: StorageServer, clock: Clock) -> None:
    si, we, lease = new_si(), write_enabler(), lease_secrets()
    await server.read_test_write(
        si,
        write_enabler=we,
        lease=lease,
        vectors={0: m.TestWriteVectors(writes=(WriteVector(0, b"x"),))},
        read_vector=[ReadVector(0, 1)],
    )
    clock.advance(DAY)
    await server.add_or_renew_lease(si, lease)
    assert expirations(await server.get_leases(si)) == {
        0: [START_TIME + DAY + DEFAULT_LEASE_DURATION]
    }


@pytest_twisted.ensureDeferred
async def test_corruption_advisories(server: StorageServer) -> None:
    si = new_si()
    await upload_share(server, si, 0, b"abc")
    await server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 0, b"looks bad")
    with pytest.raises(ShareNotFound):
        await server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 1, b"looks bad")
    with pytest.raises(ShareNotFound):
        await server.advise_corrupt_share(ShareKind.MUTABLE, si, 0, b"looks bad")
    with pytest.raises(InvalidRequest):
        await server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 0, b"")
    with pytest.raises(InvalidRequest):
        await server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 0, b"x" * 32766)
    await server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 0, b"x" * 32765)
    # The share is unchanged.
    assert await server.read_immutable(si, 0, 0, 10) == b"abc"


@pytest_twisted.ensureDeferred
async def test_version(server: StorageServer) -> None:
    version = await server.get_version()
    assert version.available_space > 0
    assert version.maximum_immutable_share_size == version.available_space
    assert version.maximum_mutable_share_size > 0
    assert version.application_version.startswith(b"tahoe-cloud/")
