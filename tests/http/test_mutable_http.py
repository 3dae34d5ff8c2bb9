"""Mutable endpoints, and the test-only lease view, through real HTTP on loopback."""

from __future__ import annotations

import pytest_twisted

from tahoe_cloud.testing.support import START_TIME
from tahoe_cloud.vocabulary import hash_lease_secret
from tests.http.conftest import Gbs, new_si


def write(
    offset: int,
    data: bytes,
    new_length: int | None = None,
    tests: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    return {
        "test": tests or [],
        "write": [{"offset": offset, "data": data}],
        "new-length": new_length,
    }


@pytest_twisted.ensureDeferred
async def test_read_test_write_round_trip(gbs: Gbs) -> None:
    si = new_si()
    reply = await gbs.rtw(
        si, {0: write(0, b"hello world"), 3: write(0, b"three")}, [{"offset": 0, "size": 5}]
    )
    assert reply.code == 200
    assert reply.cbor() == {"success": True, "data": {}}

    shares = await gbs.request("GET", f"/storage/v1/mutable/{si.text}/shares")
    assert shares.cbor() == {0, 3}
    assert b"\xd9\x01\x02" in shares.body

    # Reads happen before writes and cover every share; a failed test writes nothing.
    failing = {"offset": 0, "size": 5, "specimen": b"HELLO"}
    reply = await gbs.rtw(si, {0: write(0, b"XXXXX", tests=[failing])}, [{"offset": 0, "size": 5}])
    assert reply.cbor() == {"success": False, "data": {0: [b"hello"], 3: [b"three"]}}
    passing = {"offset": 0, "size": 5, "specimen": b"hello"}
    reply = await gbs.rtw(
        si, {0: write(0, b"HELLO", tests=[passing])}, [{"offset": 6, "size": 100}]
    )
    assert reply.cbor() == {"success": True, "data": {0: [b"world"], 3: [b""]}}

    read = await gbs.request(
        "GET", f"/storage/v1/mutable/{si.text}/0", headers={"range": [b"bytes=0-4"]}
    )
    assert read.code == 206
    assert read.header("content-type") == "application/octet-stream"
    assert read.header("content-range") == "bytes 0-4/*"
    assert read.body == b"HELLO"
    probe = await gbs.request(
        "GET", f"/storage/v1/mutable/{si.text}/0", headers={"range": [b"bytes=11-20"]}
    )
    assert probe.code == 204
    missing = await gbs.request(
        "GET", f"/storage/v1/mutable/{si.text}/1", headers={"range": [b"bytes=0-4"]}
    )
    assert missing.code == 404

    # new-length 0 deletes the share.
    reply = await gbs.rtw(si, {3: {"test": [], "write": [], "new-length": 0}}, [])
    assert reply.cbor()["success"] is True
    assert (await gbs.request("GET", f"/storage/v1/mutable/{si.text}/shares")).cbor() == {0}


@pytest_twisted.ensureDeferred
async def test_wrong_write_enabler_is_401(gbs: Gbs) -> None:
    si = new_si()
    assert (await gbs.rtw(si, {0: write(0, b"x")}, [])).code == 200
    assert (await gbs.rtw(si, {0: write(0, b"y")}, [], we=b"W" * 32)).code == 401


@pytest_twisted.ensureDeferred
async def test_mutable_corrupt(gbs: Gbs) -> None:
    si = new_si()
    await gbs.rtw(si, {2: write(0, b"x")}, [])
    path = f"/storage/v1/mutable/{si.text}"
    assert (await gbs.request("POST", f"{path}/2/corrupt", cbor={"reason": "ono"})).code == 200
    assert (await gbs.request("POST", f"{path}/1/corrupt", cbor={"reason": "ono"})).code == 404
    assert len(gbs.backend.advisories) == 1


@pytest_twisted.ensureDeferred
async def test_rtw_schema_errors_are_400(gbs: Gbs) -> None:
    si = new_si()
    good = write(0, b"x")
    for body in [
        {"test-write-vectors": {}},
        {"test-write-vectors": {}, "read-vector": [], "extra": 1},
        {"test-write-vectors": {256: good}, "read-vector": []},
        {"test-write-vectors": {-1: good}, "read-vector": []},
        {"test-write-vectors": {"0": good}, "read-vector": []},
        {"test-write-vectors": {0: {**good, "new-length": -1}}, "read-vector": []},
        {
            "test-write-vectors": {0: {**good, "write": [{"offset": 0, "data": "text"}]}},
            "read-vector": [],
        },
        {"test-write-vectors": {0: {"test": [], "write": []}}, "read-vector": []},
        {"test-write-vectors": {}, "read-vector": [{"offset": 0, "size": 1}] * 31},
        {
            "test-write-vectors": {
                0: {**good, "test": [{"offset": 0, "size": 0, "specimen": b""}] * 31}
            },
            "read-vector": [],
        },
        {"test-write-vectors": {}, "read-vector": [{"offset": True, "size": 1}]},
        {"test-write-vectors": {}, "read-vector": [{"offset": 2**64, "size": 1}]},
        [],
    ]:
        reply = await gbs.request(
            "POST",
            f"/storage/v1/mutable/{si.text}/read-test-write",
            secrets={
                "write-enabler": b"w" * 32,
                "lease-renew-secret": b"r" * 32,
                "lease-cancel-secret": b"c" * 32,
            },
            cbor=body,
        )
        assert reply.code == 400, body
    assert (await gbs.request("GET", f"/storage/v1/mutable/{si.text}/shares")).cbor() == set()


@pytest_twisted.ensureDeferred
async def test_lease_view(gbs: Gbs, lease_view: Gbs) -> None:
    si = new_si()
    assert (await lease_view.request("GET", f"/leases/{si.text}")).cbor() == {}
    assert (await gbs.rtw(si, {0: write(0, b"x")}, [])).code == 200
    view = (await lease_view.request("GET", f"/leases/{si.text}")).cbor()
    assert list(view) == [0]
    [lease] = view[0]
    assert set(lease) == {"expiration", "renew-secret-digest"}
    assert lease["renew-secret-digest"] == hash_lease_secret(b"r" * 32)
    assert lease["expiration"] > START_TIME + 31 * 24 * 3600 - 10

    assert (await lease_view.request("GET", "/clock")).cbor() == {"now": START_TIME}
    advanced = await lease_view.request("POST", "/clock/advance", cbor={"seconds": 17})
    assert advanced.code == 204
    assert lease_view.clock.seconds() == START_TIME + 17

    assert (
        await lease_view.request("GET", f"/leases/{si.text}", auth=b"Tahoe-LAFS eA==")
    ).code == 401
    assert (await lease_view.request("GET", "/leases/notanindex")).code == 400
    # The storage listener does not serve the view.
    assert (await gbs.request("GET", f"/leases/{si.text}")).code == 404
    assert (await gbs.request("GET", f"/storage/v1/leases/{si.text}")).code == 404
