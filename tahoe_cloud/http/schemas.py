"""Schemas of request bodies (validated into core value types) and the answers' shapes.

Request maps are closed: a missing or extra key is 400, and every value is
checked by type (``bool`` is not an integer here, a list is not a set) and
range (unsigned integers fit in 64 bits, share numbers in 0..255) and count
(the vector limits of ``tahoe_cloud.vocabulary`` and ``tahoe_cloud.server.limits``).

Answer builders produce exactly the keys the stock client's CDDL schemas
allow: its maps are closed, so an extra key would make it drop the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.web import http

from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.http.errors import HTTPError
from tahoe_cloud.server.limits import MAX_WRITE_VECTORS
from tahoe_cloud.server.messages import (
    AllocationResult,
    ImmutableWriteResult,
    ReadTestWriteResult,
    ReadVector,
    TestVector,
    TestWriteVectors,
    VersionInfo,
)
from tahoe_cloud.vocabulary import (
    MAX_READ_VECTORS,
    MAX_SHARES_PER_REQUEST,
    MAX_TEST_VECTORS,
    MAX_UINT64,
    WriteVector,
    validate_corruption_reason,
    validate_share_number,
)

V1 = b"http://allmydata.org/tahoe/protocols/storage/v1"


def _bad(where: str, problem: str) -> HTTPError:
    return HTTPError(http.BAD_REQUEST, f"{where}: {problem}")


def expect_map(value: object, where: str, keys: set[str]) -> dict[str, Any]:
    """``value`` as a map with exactly the text keys ``keys``."""
    if not isinstance(value, dict):
        raise _bad(where, "expected a map")
    if set(value) != keys or not all(isinstance(k, str) for k in value):
        raise _bad(where, "expected exactly the keys " + ", ".join(sorted(keys)))
    return value


def expect_uint(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UINT64:
        raise _bad(where, "expected an unsigned 64-bit integer")
    return value


def _bytes(value: object, where: str) -> bytes:
    if not isinstance(value, bytes):
        raise _bad(where, "expected a byte string")
    return value


def _list(value: object, where: str, limit: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(where, "expected an array")
    if limit is not None and len(value) > limit:
        raise _bad(where, f"at most {limit} entries allowed")
    return value


def _share_number(value: object, where: str) -> int:
    try:
        return validate_share_number(value)
    except InvalidRequest as e:
        raise _bad(where, str(e)) from None


# --- requests ---------------------------------------------------------------


def parse_allocate(body: object) -> tuple[frozenset[int], int]:
    """``{"share-numbers": #6.258([* uint]), "allocated-size": uint}``."""
    info = expect_map(body, "allocate", {"share-numbers", "allocated-size"})
    shares = info["share-numbers"]
    # cbor2 decodes tag 258 to a set (or frozenset); a plain array is refused.
    if not isinstance(shares, set | frozenset):
        raise _bad("share-numbers", "expected a set (CBOR tag 258)")
    if len(shares) > MAX_SHARES_PER_REQUEST:
        raise _bad("share-numbers", f"at most {MAX_SHARES_PER_REQUEST} shares")
    numbers = frozenset(_share_number(n, "share-numbers") for n in shares)
    return numbers, expect_uint(info["allocated-size"], "allocated-size")


def parse_corrupt(body: object) -> bytes:
    """``{"reason": tstr}`` of 1..32765 UTF-8 bytes; returns the UTF-8 bytes."""
    info = expect_map(body, "corrupt", {"reason"})
    reason = info["reason"]
    if not isinstance(reason, str):
        raise _bad("reason", "expected a text string")
    try:
        return validate_corruption_reason(reason.encode("utf-8", errors="surrogatepass"))
    except InvalidRequest as e:
        raise _bad("reason", str(e)) from None


def _test_vector(value: object) -> TestVector:
    vector = expect_map(value, "test vector", {"offset", "size", "specimen"})
    return TestVector(
        offset=expect_uint(vector["offset"], "test offset"),
        size=expect_uint(vector["size"], "test size"),
        specimen=_bytes(vector["specimen"], "test specimen"),
    )


def _write_vector(value: object) -> WriteVector:
    vector = expect_map(value, "write vector", {"offset", "data"})
    return WriteVector(
        offset=expect_uint(vector["offset"], "write offset"),
        data=_bytes(vector["data"], "write data"),
    )


def _test_write_vectors(value: object) -> TestWriteVectors:
    vectors = expect_map(value, "test-write-vectors entry", {"test", "write", "new-length"})
    new_length = vectors["new-length"]
    return TestWriteVectors(
        tests=tuple(_test_vector(v) for v in _list(vectors["test"], "test", MAX_TEST_VECTORS)),
        writes=tuple(_write_vector(v) for v in _list(vectors["write"], "write")),
        new_length=None if new_length is None else expect_uint(new_length, "new-length"),
    )


def _has_write_list(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("write"), list)


def parse_read_test_write(body: object) -> tuple[dict[int, TestWriteVectors], list[ReadVector]]:
    """The read-test-write request: per-share test/write vectors and one read vector."""
    info = expect_map(body, "read-test-write", {"test-write-vectors", "read-vector"})
    per_share = info["test-write-vectors"]
    if not isinstance(per_share, dict):
        raise _bad("test-write-vectors", "expected a map")
    if len(per_share) > MAX_SHARES_PER_REQUEST:
        raise _bad("test-write-vectors", f"at most {MAX_SHARES_PER_REQUEST} shares")
    writes = sum(len(twv["write"]) for twv in per_share.values() if _has_write_list(twv))
    if writes > MAX_WRITE_VECTORS:
        raise _bad("write", f"at most {MAX_WRITE_VECTORS} write vectors per request")
    vectors = {
        _share_number(shnum, "test-write-vectors"): _test_write_vectors(twv)
        for shnum, twv in per_share.items()
    }
    reads = []
    for entry in _list(info["read-vector"], "read-vector", MAX_READ_VECTORS):
        read = expect_map(entry, "read vector", {"offset", "size"})
        reads.append(
            ReadVector(
                offset=expect_uint(read["offset"], "read offset"),
                size=expect_uint(read["size"], "read size"),
            )
        )
    return vectors, reads


# --- answers ----------------------------------------------------------------


def version_answer(info: VersionInfo) -> dict[bytes, object]:
    """The version map: byte-string keys, exactly these three numbers and the version."""
    return {
        V1: {
            b"maximum-immutable-share-size": info.maximum_immutable_share_size,
            b"maximum-mutable-share-size": info.maximum_mutable_share_size,
            b"available-space": info.available_space,
        },
        b"application-version": info.application_version,
    }


def allocate_answer(result: AllocationResult) -> dict[str, object]:
    """``{"already-have": set, "allocated": set}`` (both tag 258 on the wire)."""
    return {"already-have": set(result.already_have), "allocated": set(result.allocated)}


def write_answer(result: ImmutableWriteResult) -> dict[str, object]:
    """``{"required": [{"begin", "end"}, ...]}``, sent with both 200 and 201."""
    return {"required": [{"begin": r.begin, "end": r.end} for r in result.required]}


def read_test_write_answer(result: ReadTestWriteResult) -> dict[str, object]:
    """``{"success": bool, "data": {share number: [bytes, ...]}}`` (a map, never a list)."""
    data: Mapping[int, object] = {
        shnum: [bytes(chunk) for chunk in reads] for shnum, reads in result.data.items()
    }
    return {"success": bool(result.success), "data": dict(data)}


def share_set_answer(shares: frozenset[int]) -> set[int]:
    """A bare set of share numbers (tag 258)."""
    return set(shares)
