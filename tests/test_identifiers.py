"""Storage indexes and share numbers are validated strictly."""

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer, reactor

from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.identifiers import StorageIndex, parse_share_number, validate_share_number
from tahoe_cloud.leases import Lease


@given(st.binary(min_size=16, max_size=16))
def test_storage_index_text_round_trip(raw: bytes) -> None:
    si = StorageIndex(raw)
    assert len(si.text) == 26
    assert StorageIndex.from_text(si.text) == si
    assert si.prefix == si.text[:2]


@pytest.mark.parametrize(
    "text",
    ["", "a" * 25, "a" * 27, "A" * 26, "1" * 26, "../" + "a" * 23, "a" * 25 + "b"],
)
def test_bad_storage_index_text(text: str) -> None:
    with pytest.raises(InvalidRequest):
        StorageIndex.from_text(text)


@pytest.mark.parametrize("text", ["", "-1", "01", "256", "1.0", " 1", "1e2"])
def test_bad_share_number_text(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_share_number(text)


def test_share_number_bounds() -> None:
    assert parse_share_number("0") == 0
    assert parse_share_number("255") == 255
    with pytest.raises(InvalidRequest):
        validate_share_number(True)


def test_lease_repr_hides_secrets() -> None:
    lease = Lease(1, b"r" * 32, b"c" * 32, 100)
    assert "rrrr" not in repr(lease)
    hashed = lease.to_hashed()
    assert hashed.renew_secret_matches(b"r" * 32)
    assert not hashed.renew_secret_matches(b"x" * 32)
    assert lease.renewed(50).expiration == 100


@pytest_twisted.ensureDeferred
async def test_reactor_is_running() -> None:
    d: defer.Deferred[int] = defer.Deferred()
    reactor.callLater(0, d.callback, 7)
    assert await d == 7
