"""``ExpiryPolicy``: when a lease is expired, per mode; and the cycle report's dict form."""

from __future__ import annotations

import json

import pytest

from tahoe_cloud.config import NodeConfig
from tahoe_cloud.server.expiry_policy import (
    HISTOGRAM_BUCKET,
    ExpiryPolicy,
    age_bucket,
    renewal_time,
)
from tahoe_cloud.server.expiry_report import CycleReport, KindCounts, StorageIndexReport
from tahoe_cloud.server.lease_policy import DEFAULT_LEASE_DURATION
from tahoe_cloud.vocabulary import Lease, ShareKind

DAY = 24 * 60 * 60
RENEWED = 1_700_000_000


def lease(renewed: int = RENEWED, duration: int = DEFAULT_LEASE_DURATION) -> Lease:
    return Lease(
        owner_num=1, renew_secret=b"r" * 32, cancel_secret=b"c" * 32, expiration=renewed + duration
    )


def test_renewal_time_is_expiration_less_the_granted_duration() -> None:
    assert renewal_time(lease()) == RENEWED
    assert ExpiryPolicy(lease_duration=10 * DAY).renewal_time(lease(duration=10 * DAY)) == RENEWED
    assert ExpiryPolicy().age(lease(), RENEWED + 5) == 5


def test_age_mode_with_override_counts_from_the_last_renewal() -> None:
    policy = ExpiryPolicy(enabled=True, mode="age", override_lease_duration=2 * DAY)
    assert not policy.lease_expired(lease(), RENEWED + 2 * DAY)
    assert policy.lease_expired(lease(), RENEWED + 2 * DAY + 1)
    # Longer than the lease itself: a lease past its own expiration is not expired yet.
    long = ExpiryPolicy(mode="age", override_lease_duration=60 * DAY)
    assert not long.lease_expired(lease(), RENEWED + 59 * DAY)
    assert long.lease_expired(lease(), RENEWED + 60 * DAY + 1)


def test_age_mode_without_override_uses_the_leases_own_expiration() -> None:
    # Upstream 1.20 compares the age with the absolute expiration time here and
    # so never expires anything; this follows upstream's documentation.
    policy = ExpiryPolicy(enabled=True, mode="age")
    expiration = RENEWED + DEFAULT_LEASE_DURATION
    assert not policy.lease_expired(lease(), expiration)
    assert policy.lease_expired(lease(), expiration + 1)
    assert not policy.lease_expired(lease(duration=90 * DAY), RENEWED + 89 * DAY)


def test_cutoff_date_mode_expires_leases_last_renewed_before_the_cutoff() -> None:
    cutoff = RENEWED + DAY
    policy = ExpiryPolicy(enabled=True, mode="cutoff-date", cutoff_date=cutoff)
    assert policy.lease_expired(lease(), RENEWED)  # whatever the time now
    assert policy.lease_expired(lease(renewed=cutoff - 1), 0)
    assert not policy.lease_expired(lease(renewed=cutoff), cutoff + 400 * DAY)
    # The override is for age mode only.
    ignored = ExpiryPolicy(mode="cutoff-date", cutoff_date=cutoff, override_lease_duration=1)
    assert not ignored.lease_expired(lease(renewed=cutoff), cutoff + 10 * DAY)


def test_kinds_selected() -> None:
    policy = ExpiryPolicy(immutable=False, mutable=True)
    assert not policy.selects(ShareKind.IMMUTABLE)
    assert policy.selects(ShareKind.MUTABLE)


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        ExpiryPolicy(mode="never")
    with pytest.raises(ValueError, match="cutoff"):
        ExpiryPolicy(mode="cutoff-date")
    with pytest.raises(ValueError, match="override"):
        ExpiryPolicy(override_lease_duration=-1)


def test_from_the_parsed_storage_section() -> None:
    config = NodeConfig.from_string(
        "/node",
        "[storage]\nexpire.enabled = true\nexpire.mode = cutoff-date\n"
        "expire.cutoff_date = 2024-01-02\nexpire.mutable = false\n",
    )
    policy = ExpiryPolicy.from_settings(config.storage.expire)
    assert policy == ExpiryPolicy(
        enabled=True, mode="cutoff-date", cutoff_date=1704153600, immutable=True, mutable=False
    )
    age = NodeConfig.from_string(
        "/node", "[storage]\nexpire.mode = age\nexpire.override_lease_duration = 60 days\n"
    )
    policy = ExpiryPolicy.from_settings(age.storage.expire, lease_duration=DAY)
    assert policy == ExpiryPolicy(
        enabled=False, mode="age", override_lease_duration=60 * DAY, lease_duration=DAY
    )
    assert ExpiryPolicy.from_settings(NodeConfig.from_string("/node", "").storage.expire) == (
        ExpiryPolicy()
    )


def test_age_buckets_are_whole_days() -> None:
    assert HISTOGRAM_BUCKET == DAY
    assert age_bucket(-5) == 0
    assert age_bucket(0) == 0
    assert age_bucket(DAY - 1) == 0
    assert age_bucket(DAY) == 1
    assert age_bucket(45.5 * DAY) == 45


def test_cycle_report_sums_and_round_trips_through_json() -> None:
    one = StorageIndexReport(deleted=True)
    one[ShareKind.IMMUTABLE].add(
        KindCounts(
            shares_examined=2,
            leases_examined=3,
            leases_expired=1,
            shares_reclaimed=1,
            bytes_reclaimed=100,
            leases_per_share={1: 1, 2: 1},
            lease_age_histogram={0: 2, 40: 1},
        )
    )
    two = StorageIndexReport(deleted=True)
    two[ShareKind.IMMUTABLE].add(KindCounts(shares_examined=1, leases_per_share={1: 1}))
    two[ShareKind.MUTABLE].add(KindCounts(shares_examined=1, lease_age_histogram={3: 1}))
    cycle = CycleReport(started=10.0, report_only=False)
    for report in (one, two, StorageIndexReport(skipped_busy=True)):
        cycle.add(report)
    assert cycle.storage_indexes_examined == 2
    assert cycle.storage_indexes_skipped_busy == 1
    assert cycle[ShareKind.IMMUTABLE] == KindCounts(
        shares_examined=3,
        leases_examined=3,
        leases_expired=1,
        shares_reclaimed=1,
        bytes_reclaimed=100,
        leases_per_share={1: 2, 2: 1},
        lease_age_histogram={0: 2, 40: 1},
    )
    assert cycle[ShareKind.MUTABLE].lease_age_histogram == {3: 1}
    text = json.dumps(cycle.to_dict())
    assert CycleReport.from_dict(json.loads(text)) == cycle
    assert CycleReport.from_dict(json.loads(json.dumps(CycleReport().to_dict()))) == CycleReport()
