"""The add-or-renew rule."""

from __future__ import annotations

from tahoe_cloud.server.lease_policy import LeaseGrant, add_or_renew, apply_to_shares, only_changed
from tahoe_cloud.server.messages import LeaseSecrets
from tahoe_cloud.vocabulary import Lease

A = LeaseSecrets(renew=b"r" * 32, cancel=b"c" * 32)
B = LeaseSecrets(renew=b"R" * 32, cancel=b"C" * 32)


def lease(secrets: LeaseSecrets, expiration: int, *, hashed: bool = False) -> Lease:
    made = Lease(1, secrets.renew, secrets.cancel, expiration)
    return made.to_hashed() if hashed else made


def test_renews_matching_lease_clear_or_hashed() -> None:
    for hashed in (False, True):
        result = add_or_renew([lease(A, 100, hashed=hashed)], LeaseGrant(A, 200))
        assert [(x.expiration, x.hashed) for x in result] == [(200, hashed)]


def test_never_shortens() -> None:
    result = add_or_renew([lease(A, 500)], LeaseGrant(A, 200))
    assert [x.expiration for x in result] == [500]


def test_adds_new_lease_in_clear() -> None:
    result = add_or_renew([lease(A, 100, hashed=True)], LeaseGrant(B, 200, nodeid=b"n" * 20))
    assert len(result) == 2
    new = result[1]
    assert not new.hashed
    assert new.renew_secret == B.renew and new.cancel_secret == B.cancel
    assert new.expiration == 200 and new.nodeid == b"n" * 20


def test_apply_to_shares_gives_shares_without_leases_one() -> None:
    result = apply_to_shares({0: [lease(A, 1)], 1: []}, {0, 1, 2}, LeaseGrant(A, 9))
    assert {n: [x.expiration for x in ls] for n, ls in result.items()} == {0: [9], 1: [9], 2: [9]}


def test_only_changed_keeps_new_and_extended_leases() -> None:
    before = {0: [lease(A, 9)], 1: [lease(A, 5)], 2: [lease(A, 9)]}
    after = apply_to_shares(before, {0, 1, 2, 3}, LeaseGrant(A, 9))
    changed = only_changed(before, after)
    # share 0 and 2: renewed to the same second, nothing to write
    assert sorted(changed) == [1, 3]
    assert [x.expiration for x in changed[1]] == [9]
    added = apply_to_shares(before, {0}, LeaseGrant(B, 9))
    assert only_changed(before, added) == {0: added[0]}  # one more lease


def test_new_leases_stop_at_the_bound_renewals_do_not() -> None:
    import pytest

    from tahoe_cloud.errors import TooManyLeases
    from tahoe_cloud.server.lease_policy import MAX_LEASES_PER_SHARE

    full = [
        lease(LeaseSecrets(renew=n.to_bytes(32, "big"), cancel=b"c" * 32), 100)
        for n in range(MAX_LEASES_PER_SHARE)
    ]
    with pytest.raises(TooManyLeases):
        add_or_renew(full, LeaseGrant(A, 200))
    renewed = add_or_renew(
        full, LeaseGrant(LeaseSecrets(renew=(7).to_bytes(32, "big"), cancel=b"c" * 32), 200)
    )
    assert len(renewed) == MAX_LEASES_PER_SHARE and renewed[7].expiration == 200
