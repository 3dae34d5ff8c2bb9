"""Version, immutable and lease endpoints through real HTTP on loopback."""

from __future__ import annotations

import cbor2
import pytest
import pytest_twisted

from tahoe_cloud.http.schemas import V1
from tests.http.conftest import SWISSNUM, Gbs, new_si

LEASE = {"lease-renew-secret": b"r" * 32, "lease-cancel-secret": b"c" * 32}


@pytest_twisted.ensureDeferred
async def test_version_shape(gbs: Gbs) -> None:
    reply = await gbs.request("GET", "/storage/v1/version")
    assert reply.code == 200
    assert reply.header("content-type") == "application/cbor"
    version = reply.cbor()
    assert set(version) == {V1, b"application-version"}
    assert set(version[V1]) == {
        b"maximum-immutable-share-size",
        b"maximum-mutable-share-size",
        b"available-space",
    }
    assert isinstance(version[b"application-version"], bytes)


@pytest.mark.parametrize(
    "auth",
    [None, b"Tahoe-LAFS " + b"d3Jvbmc=", b"Tahoe-LAFS", b"", b"Basic " + SWISSNUM],
)
@pytest_twisted.ensureDeferred
async def test_wrong_swissnum_is_401_everywhere(gbs: Gbs, auth: bytes | None) -> None:
    si = new_si().text
    for method, path in [
        ("GET", "/storage/v1/version"),
        ("POST", f"/storage/v1/immutable/{si}"),
        ("PATCH", f"/storage/v1/immutable/{si}/0"),
        ("GET", f"/storage/v1/mutable/{si}/shares"),
        ("GET", "/nothing/here"),
        ("GET", "/storage/v1/no-such-endpoint"),
        ("DELETE", "/storage/v1/version"),
    ]:
        reply = await gbs.request(method, path, auth=auth)
        assert reply.code == 401, (method, path)
        # One answer for every path: nothing tells which paths exist.
        assert reply.body == b"", (method, path)
        assert reply.header("content-type") is None, (method, path)
        assert reply.header("allow") is None, (method, path)


@pytest_twisted.ensureDeferred
async def test_two_authorization_headers_are_401(gbs: Gbs) -> None:
    from base64 import b64encode

    good = b"Tahoe-LAFS " + b64encode(SWISSNUM)
    reply = await gbs.request(
        "GET", "/storage/v1/version", headers={"authorization": [good, good]}, auth=None
    )
    assert reply.code == 401


@pytest_twisted.ensureDeferred
async def test_upload_and_read_back(gbs: Gbs) -> None:
    si = new_si()
    data = bytes(range(256)) * 40
    reply = await gbs.allocate(si, {0, 1}, len(data))
    assert reply.code == 200
    assert cbor2.loads(reply.body) == {"already-have": set(), "allocated": {0, 1}}
    # Tag 258 on the wire, not a plain array.
    assert b"\xd9\x01\x02" in reply.body

    first = await gbs.write(si, 0, 0, data[:1000])
    assert first.code == 200
    assert first.cbor() == {"required": [{"begin": 1000, "end": len(data)}]}
    last = await gbs.write(si, 0, 1000, data[1000:])
    assert last.code == 201
    assert last.cbor() == {"required": []}

    shares = await gbs.request("GET", f"/storage/v1/immutable/{si.text}/shares")
    assert shares.cbor() == {0}

    read = await gbs.request(
        "GET", f"/storage/v1/immutable/{si.text}/0", headers={"range": [b"bytes=10-19"]}
    )
    assert read.code == 206
    assert read.header("content-type") == "application/octet-stream"
    assert read.header("content-range") == "bytes 10-19/*"
    assert read.body == data[10:20]

    # Past the end: truncated, with a Content-Range matching the bytes sent.
    tail = await gbs.request(
        "GET", f"/storage/v1/immutable/{si.text}/0", headers={"range": [b"bytes=10000-20000"]}
    )
    assert tail.code == 206
    assert tail.header("content-range") == f"bytes 10000-{len(data) - 1}/*"
    assert tail.body == data[10000:]

    for start in (len(data), len(data) + 5):
        probe = await gbs.request(
            "GET",
            f"/storage/v1/immutable/{si.text}/0",
            headers={"range": [b"bytes=%d-%d" % (start, start + 100)]},
        )
        assert probe.code == 204
        assert probe.body == b""

    whole = await gbs.request("GET", f"/storage/v1/immutable/{si.text}/0")
    assert whole.code == 200
    assert whole.body == data

    again = await gbs.allocate(si, {0, 1, 2}, len(data))
    assert again.cbor() == {"already-have": {0}, "allocated": {2}}


@pytest.mark.parametrize(
    "range_header",
    [b"bytes=0-", b"bytes=-5", b"bytes=0-1,3-4", b"bytes=5-2", b"items=0-1", b"bytes=a-b", b""],
)
@pytest_twisted.ensureDeferred
async def test_bad_ranges_are_416(gbs: Gbs, range_header: bytes) -> None:
    si = new_si()
    await gbs.upload(si, 0, b"x" * 100)
    reply = await gbs.request(
        "GET", f"/storage/v1/immutable/{si.text}/0", headers={"range": [range_header]}
    )
    assert reply.code == 416


@pytest_twisted.ensureDeferred
async def test_large_range_streams(gbs: Gbs) -> None:
    si = new_si()
    data = b"".join(bytes([i % 251]) * 1024 for i in range(6 * 1024))  # 6 MiB
    await gbs.allocate(si, {3}, len(data))
    for offset in range(0, len(data), 1024 * 1024):
        await gbs.write(si, 3, offset, data[offset : offset + 1024 * 1024])
    full = await gbs.request(
        "GET",
        f"/storage/v1/immutable/{si.text}/3",
        headers={"range": [b"bytes=1-%d" % (len(data) - 1)]},
    )
    assert full.code == 206
    assert full.header("content-range") == f"bytes 1-{len(data) - 1}/*"
    assert full.body == data[1:]
    # Longer than the share and than the buffered limit: the share's end is found.
    for first, last in [(0, 2 * len(data)), (5, len(data) + 1), (100, 10 * len(data))]:
        over = await gbs.request(
            "GET",
            f"/storage/v1/immutable/{si.text}/3",
            headers={"range": [b"bytes=%d-%d" % (first, last)]},
        )
        assert over.code == 206
        assert over.header("content-range") == f"bytes {first}-{len(data) - 1}/*"
        assert over.body == data[first:]


@pytest_twisted.ensureDeferred
async def test_missing_share_read_is_404(gbs: Gbs) -> None:
    si = new_si()
    reply = await gbs.request(
        "GET", f"/storage/v1/immutable/{si.text}/0", headers={"range": [b"bytes=0-9"]}
    )
    assert reply.code == 404
    assert (await gbs.request("GET", f"/storage/v1/immutable/{si.text}/shares")).cbor() == set()


@pytest_twisted.ensureDeferred
async def test_write_errors(gbs: Gbs) -> None:
    si = new_si()
    await gbs.allocate(si, {0}, 10)
    assert (await gbs.write(si, 0, 0, b"abcde")).code == 200
    assert (await gbs.write(si, 0, 0, b"abcde")).code == 200  # identical rewrite is fine
    assert (await gbs.write(si, 0, 2, b"XY")).code == 409
    assert (await gbs.write(si, 0, 8, b"abcd")).code == 416  # past the allocation
    assert (await gbs.write(si, 0, 5, b"fghij", upload=b"v" * 20)).code == 401
    assert (await gbs.write(si, 1, 0, b"a")).code == 404
    no_range = await gbs.request(
        "PATCH",
        f"/storage/v1/immutable/{si.text}/0",
        secrets={"upload-secret": b"u" * 20},
        body=b"abc",
    )
    assert no_range.code == 416
    mismatch = await gbs.request(
        "PATCH",
        f"/storage/v1/immutable/{si.text}/0",
        secrets={"upload-secret": b"u" * 20},
        headers={"content-range": [b"bytes 5-9/*"]},
        body=b"abc",
    )
    assert mismatch.code == 400


@pytest_twisted.ensureDeferred
async def test_two_content_range_headers_are_416(gbs: Gbs) -> None:
    # Which one counts would be a guess ("last wins" wrote bytes 5-7): refuse, as for Range.
    si = new_si()
    await gbs.allocate(si, {0}, 10)
    reply = await gbs.request(
        "PATCH",
        f"/storage/v1/immutable/{si.text}/0",
        secrets={"upload-secret": b"u" * 20},
        headers={"content-range": [b"bytes 0-2/*", b"bytes 5-7/*"]},
        body=b"abc",
    )
    assert reply.code == 416
    assert (await gbs.write(si, 0, 5, b"XYZ")).code == 200  # nothing was written at 5


@pytest_twisted.ensureDeferred
async def test_abort(gbs: Gbs) -> None:
    si = new_si()
    await gbs.allocate(si, {0, 1}, 4)
    path = f"/storage/v1/immutable/{si.text}"
    assert (
        await gbs.request("PUT", f"{path}/0/abort", secrets={"upload-secret": b"v" * 20})
    ).code == 401
    reply = await gbs.request("PUT", f"{path}/0/abort", secrets={"upload-secret": b"u" * 20})
    assert reply.code == 200
    assert (
        await gbs.request("PUT", f"{path}/0/abort", secrets={"upload-secret": b"u" * 20})
    ).code == 404
    assert (await gbs.write(si, 1, 0, b"abcd")).code == 201
    assert (
        await gbs.request("PUT", f"{path}/1/abort", secrets={"upload-secret": b"u" * 20})
    ).code == 405
    # The aborted share can be allocated again.
    assert (await gbs.allocate(si, {0}, 4)).cbor() == {"already-have": {1}, "allocated": {0}}


@pytest_twisted.ensureDeferred
async def test_corrupt_advisory(gbs: Gbs) -> None:
    si = new_si()
    await gbs.upload(si, 0, b"data")
    path = f"/storage/v1/immutable/{si.text}"
    assert (await gbs.request("POST", f"{path}/0/corrupt", cbor={"reason": "bad hash"})).code == 200
    assert [a.reason for a in gbs.backend.advisories] == [b"bad hash"]
    assert (await gbs.request("POST", f"{path}/7/corrupt", cbor={"reason": "x"})).code == 404
    assert (await gbs.request("POST", f"{path}/0/corrupt", cbor={"reason": ""})).code == 400
    assert (await gbs.request("POST", f"{path}/0/corrupt", cbor={"reason": b"x"})).code == 400
    big = await gbs.request("POST", f"{path}/0/corrupt", cbor={"reason": "x" * 40000})
    assert big.code == 413


@pytest_twisted.ensureDeferred
async def test_lease_endpoint(gbs: Gbs) -> None:
    si = new_si()
    assert (await gbs.request("PUT", f"/storage/v1/lease/{si.text}", secrets=LEASE)).code == 404
    await gbs.upload(si, 0, b"data")
    gbs.clock.advance(100)
    other = {"lease-renew-secret": b"R" * 32, "lease-cancel-secret": b"C" * 32}
    reply = await gbs.request("PUT", f"/storage/v1/lease/{si.text}", secrets=other)
    assert reply.code == 204
    leases = await gbs.server.get_leases(si)
    assert len(leases[0]) == 2
    assert leases[0][1].expiration - leases[0][0].expiration == 100
    missing = await gbs.request(
        "PUT", f"/storage/v1/lease/{si.text}", secrets={"lease-renew-secret": b"r" * 32}
    )
    assert missing.code == 400


@pytest_twisted.ensureDeferred
async def test_lease_count_per_share_is_bounded(gbs: Gbs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound a fresh renew secret is 409; a held lease still renews."""
    from tahoe_cloud.server import lease_policy

    monkeypatch.setattr(lease_policy, "MAX_LEASES_PER_SHARE", 5)
    si = new_si()
    await gbs.upload(si, 0, b"data")

    def secrets(n: int) -> dict[str, bytes]:
        return {"lease-renew-secret": bytes([n]) * 32, "lease-cancel-secret": b"c" * 32}

    codes = [
        (await gbs.request("PUT", f"/storage/v1/lease/{si.text}", secrets=secrets(n))).code
        for n in range(1, 7)
    ]
    assert codes == [204, 204, 204, 204, 409, 409]
    assert len((await gbs.server.get_leases(si))[0]) == 5
    again = await gbs.request("PUT", f"/storage/v1/lease/{si.text}", secrets=secrets(2))
    assert again.code == 204
