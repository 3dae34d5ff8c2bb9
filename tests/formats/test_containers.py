"""Property tests: upstream container formats round-trip (immutable v1/v2, mutable v1/v2)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahoe_cloud.formats import ContainerFormatError
from tahoe_cloud.formats import immutable as imm
from tahoe_cloud.formats import mutable as mut
from tahoe_cloud.formats.lease_records import (
    pack_immutable_lease,
    pack_mutable_lease,
    unpack_immutable_lease,
    unpack_mutable_lease,
)
from tahoe_cloud.vocabulary import Lease, hash_lease_secret

secrets = st.binary(min_size=32, max_size=32)
uint32 = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def leases(draw: st.DrawFn, *, owner_min: int = 0) -> Lease:
    return Lease(
        owner_num=draw(st.integers(min_value=owner_min, max_value=2**32 - 1)),
        renew_secret=draw(secrets),
        cancel_secret=draw(secrets),
        expiration=draw(uint32),
        nodeid=draw(st.binary(min_size=20, max_size=20)),
    )


def same_lease(stored: Lease, original: Lease, *, hashed: bool, with_nodeid: bool) -> bool:
    return (
        stored.owner_num == original.owner_num
        and stored.expiration == original.expiration
        and stored.hashed == hashed
        and stored.renew_secret_matches(original.renew_secret)
        and stored.cancel_secret_matches(original.cancel_secret)
        and (not with_nodeid or stored.nodeid == original.nodeid)
    )


@settings(max_examples=60, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    data=st.binary(max_size=2000),
    ls=st.lists(leases(), max_size=6),
)
def test_immutable_round_trip(version: int, data: bytes, ls: list[Lease]) -> None:
    blob = imm.build_container(version, data, ls)
    assert len(blob) == 12 + len(data) + 72 * len(ls)
    parsed = imm.parse_container(blob)
    assert parsed.version == version
    assert parsed.data == data
    assert len(parsed.leases) == len(ls)
    for stored, original in zip(parsed.leases, ls, strict=True):
        assert same_lease(stored, original, hashed=version == 2, with_nodeid=False)


@settings(max_examples=60, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    data=st.binary(max_size=2000),
    ls=st.lists(leases(owner_min=1), max_size=9),
    enabler=secrets,
    nodeid=st.binary(min_size=20, max_size=20),
)
def test_mutable_round_trip(
    version: int, data: bytes, ls: list[Lease], enabler: bytes, nodeid: bytes
) -> None:
    blob = mut.build_container(version, nodeid, enabler, data, ls)
    extra = max(0, len(ls) - 4)
    assert len(blob) == 468 + len(data) + 4 + 92 * extra
    parsed = mut.parse_container(blob)
    assert parsed.header.version == version
    assert parsed.header.write_enabler == enabler
    assert parsed.header.write_enabler_nodeid == nodeid
    assert parsed.data == data
    assert len(parsed.leases) == len(ls)
    for stored, original in zip(parsed.leases, ls, strict=True):
        assert same_lease(stored, original, hashed=version == 2, with_nodeid=True)


@settings(max_examples=30, deadline=None)
@given(
    data=st.binary(max_size=300),
    gap=st.integers(min_value=0, max_value=500),
    ls=st.lists(leases(owner_min=1), min_size=5, max_size=7),
)
def test_mutable_parse_tolerates_a_gap_before_the_extra_leases(
    data: bytes, gap: int, ls: list[Lease]
) -> None:
    """Upstream never shrinks a container: stale bytes may sit between data and extra leases."""
    blob = bytearray(mut.build_container(2, b"\x01" * 20, b"\x02" * 32, data, ls))
    extra_at = 468 + len(data)
    blob[extra_at:extra_at] = b"\xee" * gap
    struct.pack_into(">Q", blob, mut.EXTRA_LEASE_OFFSET_OFFSET, extra_at + gap)
    parsed = mut.parse_container(bytes(blob))
    assert parsed.data == data
    assert len(parsed.leases) == len(ls)


def test_magics_are_upstreams() -> None:
    assert mut.MAGIC_V1 == b"Tahoe mutable container v1\n\x75\x09\x44\x03\x8e"
    assert mut.MAGIC_V2 == b"Tahoe mutable container v2\n\xc3\x55\x21\x99\x25"
    assert mut.version_from_magic(mut.MAGIC_V2 + b"rest") == 2
    assert mut.version_from_magic(b"\x00\x00\x00\x02" + b"\x00" * 28) is None
    assert imm.is_immutable_header(b"\x00\x00\x00\x01") and imm.is_immutable_header(
        b"\x00\x00\x00\x02"
    )
    assert not imm.is_immutable_header(mut.MAGIC_V1)
    assert not imm.is_immutable_header(b"\x00\x00\x00\x03")


def test_immutable_legacy_length_saturates() -> None:
    header = imm.parse_header(imm.pack_header(2, 2**33, 0))
    assert header.legacy_length == 2**32 - 1


def test_v2_lease_records_hold_digests_not_secrets() -> None:
    lease = Lease(owner_num=1, renew_secret=b"r" * 32, cancel_secret=b"c" * 32, expiration=5)
    record = pack_immutable_lease(lease, hashed=True)
    assert b"r" * 32 not in record and hash_lease_secret(b"r" * 32) in record
    assert pack_immutable_lease(lease, hashed=False)[4:36] == b"r" * 32
    stored = unpack_immutable_lease(record, hashed=True)
    assert stored.renew_secret_matches(b"r" * 32) and not stored.renew_secret_matches(b"x" * 32)


def test_bad_leases_and_containers_are_typed_errors() -> None:
    hashed = Lease(1, b"r" * 32, b"c" * 32, 5).to_hashed()
    with pytest.raises(ContainerFormatError):
        pack_immutable_lease(hashed, hashed=False)  # v1 needs the secret itself
    with pytest.raises(ContainerFormatError):
        pack_mutable_lease(Lease(0, b"r" * 32, b"c" * 32, 5), hashed=True)  # owner 0 = empty
    with pytest.raises(ContainerFormatError):
        pack_immutable_lease(Lease(1, b"r" * 32, b"c" * 32, 2**32), hashed=True)
    assert unpack_mutable_lease(b"\x00" * 92, hashed=True) is None
    for junk in (
        b"",
        b"\x00\x00\x00\x07" + b"\x00" * 8,
        b"\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x09",
    ):
        with pytest.raises(ContainerFormatError):
            imm.parse_container(junk)
    for junk in (b"", b"x" * 500, mut.MAGIC_V1 + b"\x00" * 52 + struct.pack(">QQ", 10, 0)):
        with pytest.raises(ContainerFormatError):
            mut.parse_container(junk)
    good = mut.build_container(1, b"\x01" * 20, b"\x02" * 32, b"data", [])
    with pytest.raises(ContainerFormatError):
        mut.parse_container(good[:-2])  # truncated extra-lease count


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash_the_parsers(blob: bytes) -> None:
    for parse in (imm.parse_container, mut.parse_container):
        try:
            parse(blob)
        except ContainerFormatError:
            pass
