"""The front end's pure parts: secrets headers, CBOR, schemas, ranges, the error table."""

from __future__ import annotations

from base64 import b64encode

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahoe_cloud import errors
from tahoe_cloud.http import auth, cbor_codec, range_headers, schemas
from tahoe_cloud.http.auth import SecretKind, check_authorization_header, parse_secrets
from tahoe_cloud.http.errors import HTTPError, answer_for
from tahoe_cloud.server.messages import (
    AllocationResult,
    ByteRange,
    ImmutableWriteResult,
    ReadTestWriteResult,
    VersionInfo,
)


def _h(kind: str, value: bytes) -> bytes:
    return kind.encode() + b" " + b64encode(value)


# --- auth -------------------------------------------------------------------


def test_swissnum() -> None:
    check_authorization_header([b"Tahoe-LAFS " + b64encode(b"sw")], b"sw")
    for bad in (
        None,
        [],
        [b"Tahoe-LAFS " + b64encode(b"sx")],
        [b"Tahoe-LAFS " + b64encode(b"sw")] * 2,
    ):
        with pytest.raises(HTTPError) as e:
            check_authorization_header(bad, b"sw")
        assert e.value.code == 401
        assert "sw" not in e.value.reason


def test_parse_secrets_exact_set() -> None:
    got = parse_secrets([_h("upload-secret", b"u" * 20)], auth.UPLOAD)
    assert got == {SecretKind.UPLOAD: b"u" * 20}
    both = parse_secrets(
        [_h("lease-cancel-secret", b"c" * 32), _h("lease-renew-secret", b"r" * 32)], auth.LEASE
    )
    assert both[SecretKind.LEASE_RENEW] == b"r" * 32
    assert parse_secrets(None, auth.NONE) == {}


@pytest.mark.parametrize(
    ("values", "required"),
    [
        ([], auth.UPLOAD),
        ([_h("upload-secret", b"u" * 20)], auth.NONE),
        ([_h("upload-secret", b"u" * 20)] * 2, auth.UPLOAD),
        ([b"upload-secret "], auth.UPLOAD),
        ([b"upload-secret dQ"], auth.UPLOAD),  # missing padding
        ([b"upload-secret dXV1dXV1\ndXV1dXV1dXV1dXV1dXU="], auth.UPLOAD),
        ([_h("upload-secret", b"u" * 15)], auth.UPLOAD),
        ([_h("write-enabler", b"w" * 31)], frozenset({SecretKind.WRITE_ENABLER})),
        ([_h("lease-renew-secret", b"r" * 33), _h("lease-cancel-secret", b"c" * 32)], auth.LEASE),
        ([_h("Upload-Secret", b"u" * 20)], auth.UPLOAD),
        ([b"upload-secret  " + b64encode(b"u" * 20)], auth.UPLOAD),
        ([b"x" * 1000], auth.UPLOAD),
    ],
)
def test_parse_secrets_refuses(values: list[bytes], required: frozenset[SecretKind]) -> None:
    with pytest.raises(HTTPError) as e:
        parse_secrets(values, required)
    assert e.value.code == 400


@settings(max_examples=200)
@given(
    st.lists(st.binary(max_size=80), max_size=5),
    st.sampled_from([auth.NONE, auth.UPLOAD, auth.ALLOCATE]),
)
def test_parse_secrets_never_crashes(values: list[bytes], required: frozenset[SecretKind]) -> None:
    try:
        parse_secrets(values, required)
    except HTTPError as e:
        assert e.code == 400


# --- CBOR and schemas ----------------------------------------------------------


def test_decode_strictness() -> None:
    assert cbor_codec.decode(cbor2.dumps({"a": {1, 2}})) == {"a": {1, 2}}
    for bad in [
        b"",
        b"\x01\x02",  # trailing item
        bytes.fromhex("a2616101616102"),  # duplicate key
        bytes.fromhex("5f42010243030405ff"),  # indefinite byte string
        bytes.fromhex("d8ff01"),  # unknown tag
        b"\x81" * 100 + b"\x01",  # too deep
        b"\x5a\xff\xff\xff\xff",  # claims 4 GiB
        b"\xff",
    ]:
        with pytest.raises(HTTPError) as e:
            cbor_codec.decode(bad)
        assert e.value.code == 400


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_decode_never_crashes(data: bytes) -> None:
    try:
        cbor_codec.decode(data)
    except HTTPError as e:
        assert e.code == 400


def test_content_type() -> None:
    cbor_codec.require_cbor_content_type(None)
    cbor_codec.require_cbor_content_type([b"application/cbor"])
    cbor_codec.require_cbor_content_type([b" Application/CBOR ; charset=x"])
    with pytest.raises(HTTPError) as e:
        cbor_codec.require_cbor_content_type([b"application/json"])
    assert e.value.code == 415


def test_allocate_schema() -> None:
    assert schemas.parse_allocate({"share-numbers": {0, 255}, "allocated-size": 5}) == (
        frozenset({0, 255}),
        5,
    )
    for bad in [
        {"share-numbers": [0], "allocated-size": 5},
        {"share-numbers": {256}, "allocated-size": 5},
        {"share-numbers": {True}, "allocated-size": 5},
        {"share-numbers": {0}, "allocated-size": -1},
        {"share-numbers": {0}, "allocated-size": 2**64},
        {"share-numbers": {0}, "allocated-size": 1.0},
        {"share-numbers": {0}},
        {"share-numbers": {0}, "allocated-size": 1, "x": 1},
        {b"share-numbers": {0}, "allocated-size": 1},
        [],
    ]:
        with pytest.raises(HTTPError):
            schemas.parse_allocate(bad)


def test_corrupt_schema() -> None:
    assert schemas.parse_corrupt({"reason": "é"}) == "é".encode()
    for bad in [
        {"reason": ""},
        {"reason": "x" * 32766},
        {"reason": b"x"},
        {},
        {"reason": "x", "y": 1},
    ]:
        with pytest.raises(HTTPError):
            schemas.parse_corrupt(bad)


def test_read_test_write_schema() -> None:
    vectors, reads = schemas.parse_read_test_write(
        {
            "test-write-vectors": {
                3: {
                    "test": [{"offset": 0, "size": 2, "specimen": b"ab"}],
                    "write": [{"offset": 5, "data": b"xyz"}],
                    "new-length": None,
                }
            },
            "read-vector": [{"offset": 1, "size": 2}],
        }
    )
    assert vectors[3].tests[0].specimen == b"ab"
    assert vectors[3].writes[0].offset == 5
    assert vectors[3].new_length is None
    assert reads[0].size == 2


def test_answers_match_the_stock_client_schemas() -> None:
    version = schemas.version_answer(VersionInfo(1, 2, 3, b"v"))
    assert all(isinstance(k, bytes) for k in version) and all(
        isinstance(k, bytes)
        for k in version[schemas.V1]  # type: ignore[attr-defined]
    )
    encoded = cbor_codec.encode(
        schemas.allocate_answer(AllocationResult(frozenset({1}), frozenset()))
    )
    assert encoded.count(b"\xd9\x01\x02") == 2
    write = schemas.write_answer(ImmutableWriteResult(False, (ByteRange(3, 9),)))
    assert write == {"required": [{"begin": 3, "end": 9}]}
    rtw = schemas.read_test_write_answer(ReadTestWriteResult(True, {0: (b"a",)}))
    assert rtw == {"success": True, "data": {0: [b"a"]}}


# --- ranges -------------------------------------------------------------------


def test_ranges() -> None:
    assert range_headers.parse_range(None) is None
    assert range_headers.parse_range(b"bytes=0-0") == (0, 1)
    assert range_headers.parse_range(b"bytes=5-9") == (5, 10)
    assert range_headers.parse_content_range(b"bytes 0-9/*") == (0, 10)
    assert range_headers.parse_content_range(b"bytes 0-9/10") == (0, 10)
    assert range_headers.format_content_range(10, 20) == b"bytes 10-19/*"
    for bad in [
        b"bytes=5-",
        b"bytes=-5",
        b"bytes=1-2,4-5",
        b"bytes=9-5",
        b"chars=0-1",
        b"bytes=00-1",
    ]:
        with pytest.raises(HTTPError) as e:
            range_headers.parse_range(bad)
        assert e.value.code == 416
    for bad_cr in [None, b"bytes 0-9", b"bytes 9-0/*", b"bytes */10", b"bytes 0-9/5", b"bytes=0-9"]:
        with pytest.raises(HTTPError) as e:
            range_headers.parse_content_range(bad_cr)
        assert e.value.code == 416


@settings(max_examples=200)
@given(st.binary(max_size=60))
def test_range_parsing_never_crashes(header: bytes) -> None:
    for parse in (range_headers.parse_range, range_headers.parse_content_range):
        try:
            parse(header)
        except HTTPError as e:
            assert e.code == 416


# --- the error table ------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidRequest("x"), 400),
        (errors.ShareTooLarge("x"), 400),
        (errors.ShareNotFound("x"), 404),
        (errors.UploadNotFound("x"), 404),
        (errors.NoSharesForStorageIndex("x"), 404),
        (errors.WrongUploadSecret("x"), 401),
        (errors.WrongWriteEnabler("x"), 401),
        (errors.ConflictingWrite("x"), 409),
        (errors.WriteBeyondAllocation("x"), 416),
        (errors.UploadAlreadyComplete("x"), 405),
        (errors.ReadOnlyServer("x"), 403),
        (errors.BackendUnavailable("s3 endpoint http://secret-bucket down"), 503),
        (errors.BackendError("/var/lib/x: permission denied"), 500),
        (KeyError("boom"), 500),
        (HTTPError(413, "too big"), 413),
    ],
)
def test_error_table(exc: Exception, code: int) -> None:
    answer = answer_for(exc)
    assert answer.code == code
    fault = isinstance(exc, errors.BackendError)
    assert answer.backend_fault == fault
    assert answer.unexpected == (code >= 500 and not fault)  # a traceback for bugs only
    if code >= 500:
        assert answer.reason in ("internal server error", "storage backend temporarily unavailable")
    assert len(answer.reason) <= 200
