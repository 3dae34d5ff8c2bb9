"""The protocol's value types are checked once, when made; its limits are declared once."""

from collections.abc import Callable
from pathlib import Path

import cbor2
import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer, reactor

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.backends.s3 import records
from tahoe_cloud.errors import BackendError, InvalidRequest
from tahoe_cloud.http.errors import answer_for
from tahoe_cloud.server.messages import LeaseSecrets, ReadVector, TestVector, TestWriteVectors
from tahoe_cloud.vocabulary import (
    MAX_CORRUPTION_REASON_BYTES,
    MAX_MUTABLE_SHARE_SIZE,
    InvalidValue,
    Lease,
    StorageIndex,
    WriteEnabler,
    WriteVector,
    parse_share_number,
    validate_corruption_reason,
    validate_share_number,
)


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


@pytest.mark.parametrize(
    "make",
    [
        lambda: Lease(1, b"r" * 31, b"c" * 32, 100),
        lambda: Lease(1, b"r" * 32, b"c" * 32, -1),
        lambda: Lease(True, b"r" * 32, b"c" * 32, 100),
        lambda: Lease(1, b"r" * 32, b"c" * 32, 100, nodeid=b"n" * 19),
        lambda: WriteEnabler(b"n" * 20, b"w" * 31),
        lambda: WriteEnabler(b"n" * 21, b"w" * 32),
        lambda: WriteVector(-1, b"x"),
        lambda: WriteVector(0, "x"),  # type: ignore[arg-type]
        lambda: TestVector(0, -1, b""),
        lambda: ReadVector(-1, 1),
        lambda: TestWriteVectors(new_length=-1),
        lambda: LeaseSecrets(renew=b"r" * 32, cancel=b"c"),
    ],
)
def test_values_are_checked_when_made(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidRequest):
        make()


def test_corruption_reason_bounds() -> None:
    assert validate_corruption_reason(b"x") == b"x"
    assert validate_corruption_reason(b"x" * MAX_CORRUPTION_REASON_BYTES)
    for bad in (b"", b"x" * (MAX_CORRUPTION_REASON_BYTES + 1), "text"):
        with pytest.raises(InvalidRequest):
            validate_corruption_reason(bad)


def test_the_backends_default_to_the_protocols_mutable_share_size(tmp_path: Path) -> None:
    assert MemoryBackend().maximum_mutable_share_size == MAX_MUTABLE_SHARE_SIZE
    assert DiskBackend(storage_dir=tmp_path).maximum_mutable_share_size == MAX_MUTABLE_SHARE_SIZE


def test_a_bad_value_is_a_bad_request_and_a_value_error() -> None:
    with pytest.raises(InvalidValue) as caught:
        WriteEnabler(b"n" * 20, b"short")
    assert isinstance(caught.value, InvalidRequest) and isinstance(caught.value, ValueError)
    assert answer_for(caught.value).code == 400


def test_a_stored_head_with_a_bad_write_enabler_is_damage_not_a_bad_request() -> None:
    doc = {
        "v": records.FORMAT_VERSION,
        "we_node": b"n" * 20,
        "we": b"w" * 31,
        "len": 0,
        "cs": 1,
        "inline": b"",
        "chunks": [],
    }
    with pytest.raises(BackendError, match="damaged"):
        records.decode_head(cbor2.dumps(doc), "key")
