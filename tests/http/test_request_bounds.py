"""Hostile read-test-write requests, through real HTTP: refused with a reason, nothing changed.

Each case was found by hostile testing of a running node: a body that
decodes into far more memory than it takes on the wire, a body of millions
of write vectors, and read vectors that make a small request carry a huge
answer. Memory is measured with tracemalloc around the request (client and
server share the process, so this bounds both).
"""

from __future__ import annotations

import struct
import tracemalloc
from base64 import b64encode
from collections.abc import Awaitable
from typing import Any, TypeVar

import cbor2
import pytest
import pytest_twisted
import treq

from tahoe_cloud.http import cbor_codec
from tahoe_cloud.http.cbor_codec import MAX_ITEMS
from tahoe_cloud.server.limits import MAX_READ_ANSWER, MAX_UPLOADS_PER_CLIENT, MAX_WRITE_VECTORS
from tahoe_cloud.testing.support import START_TIME
from tests.http.conftest import SWISSNUM, Gbs, new_si

MiB = 1024 * 1024
T = TypeVar("T")

RTW_SECRETS = {
    "write-enabler": b"w" * 32,
    "lease-renew-secret": b"r" * 32,
    "lease-cancel-secret": b"c" * 32,
}


async def peak_during(work: Awaitable[T]) -> tuple[T, int]:
    """``work``'s result and the peak memory traced while it ran."""
    tracemalloc.start()
    try:
        result = await work
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def raw_rtw(gbs: Gbs, si_text: str, body: bytes) -> Any:
    return await gbs.request(
        "POST",
        f"/storage/v1/mutable/{si_text}/read-test-write",
        secrets=RTW_SECRETS,
        headers={"content-type": [b"application/cbor"]},
        body=body,
    )


def write_vectors(count: int) -> dict[str, Any]:
    writes = [{"offset": i, "data": b"x"} for i in range(count)]
    return {
        "test-write-vectors": {0: {"test": [], "write": writes, "new-length": None}},
        "read-vector": [],
    }


@pytest_twisted.ensureDeferred
async def test_nested_array_bomb_is_refused_in_bounded_memory(gbs: Gbs) -> None:
    # 4 MiB of "[[]]" items: cbor2 built about 350 MiB of lists from it.
    pairs = 2 * MiB
    body = b"\x9a" + struct.pack(">I", pairs) + b"\x81\x80" * pairs
    reply, peak = await peak_during(raw_rtw(gbs, new_si().text, body))
    assert reply.code == 400
    assert reply.body == f"CBOR body holds more than {MAX_ITEMS} items".encode()
    assert peak < 32 * MiB, peak


@pytest_twisted.ensureDeferred
async def test_too_many_write_vectors_are_refused_and_nothing_is_written(gbs: Gbs) -> None:
    si = new_si()
    reply = await raw_rtw(gbs, si.text, cbor2.dumps(write_vectors(MAX_WRITE_VECTORS + 1)))
    assert reply.code == 400
    assert reply.body == f"write: at most {MAX_WRITE_VECTORS} write vectors per request".encode()
    assert await gbs.server.list_mutable_shares(si) == frozenset()
    # At the limit the request is served.
    reply = await raw_rtw(gbs, si.text, cbor2.dumps(write_vectors(MAX_WRITE_VECTORS)))
    assert reply.code == 200
    assert await gbs.server.read_mutable(si, 0, 0, 10) == b"x" * 10


@pytest_twisted.ensureDeferred
async def test_millions_of_one_byte_write_vectors_are_refused_in_bounded_memory(gbs: Gbs) -> None:
    # 300,000 vectors (5 MiB of body); the hostile test sent 3,000,000.
    body = cbor2.dumps(write_vectors(300_000))
    si = new_si()
    reply, peak = await peak_during(raw_rtw(gbs, si.text, body))
    assert reply.code == 400
    assert peak < 48 * MiB, peak
    assert await gbs.server.list_mutable_shares(si) == frozenset()


async def two_shares(gbs: Gbs, size: int) -> Any:
    si = new_si()
    for shnum in (0, 1):
        vectors = {
            shnum: {"test": [], "write": [{"offset": 0, "data": b"s" * size}], "new-length": None}
        }
        assert (await gbs.rtw(si, vectors, [])).code == 200
    return si


@pytest_twisted.ensureDeferred
async def test_read_vectors_cannot_amplify_the_answer(gbs: Gbs) -> None:
    si = await two_shares(gbs, MiB)
    everything = {"offset": 0, "size": 2**64 - 1}
    overwrite = {0: {"test": [], "write": [{"offset": 0, "data": b"NEW"}], "new-length": None}}
    # 30 x 2 shares x 1 MiB: a 60 MiB answer to a small request.
    reply, peak = await peak_during(gbs.rtw(si, overwrite, [everything] * 30))
    assert reply.code == 400
    assert (
        reply.body
        == (
            f"the read vectors ask for {60 * MiB} bytes of share data;"
            f" at most {MAX_READ_ANSWER} per request"
        ).encode()
    )
    assert peak < 16 * MiB, peak
    # Refused before anything was written.
    assert await gbs.server.read_mutable(si, 0, 0, 3) == b"sss"
    # Up to the cap (4 x 2 x 1 MiB) the answer is served.
    reads = [everything] * (MAX_READ_ANSWER // (2 * MiB))
    reply = await gbs.rtw(si, overwrite, reads)
    assert reply.code == 200
    answer = reply.cbor()
    assert answer["success"] is True
    assert [len(chunk) for chunk in answer["data"][1]] == [MiB] * len(reads)
    assert await gbs.server.read_mutable(si, 0, 0, 3) == b"NEW"


@pytest_twisted.ensureDeferred
async def test_reads_past_the_end_count_for_nothing(gbs: Gbs) -> None:
    si = await two_shares(gbs, MiB)
    past = {"offset": MiB, "size": 2**64 - 1}
    reply = await gbs.rtw(si, {}, [past] * 30)
    assert reply.code == 200
    assert reply.cbor() == {"success": True, "data": {0: [b""] * 30, 1: [b""] * 30}}


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("ranged", [True, False])
async def test_share_reads_are_bounded_whatever_the_range(gbs: Gbs, ranged: bool) -> None:
    """A read of a whole 16 MiB share is streamed, never built in memory."""
    si = await two_shares(gbs, 16 * MiB)
    headers = {"range": [b"bytes=0-%d" % (2**63)]} if ranged else {}
    received = 0

    def count(data: bytes) -> None:
        nonlocal received
        received += len(data)

    async def read() -> None:
        response = await gbs.client.get(
            gbs.base + f"/storage/v1/mutable/{si.text}/0",
            headers={"authorization": [b"Tahoe-LAFS " + b64encode(SWISSNUM)], **headers},  # type: ignore[arg-type]
            unbuffered=True,
        )
        await treq.collect(response, count)

    _, peak = await peak_during(read())
    assert received == 16 * MiB
    # The first 4 MiB of a range are read (and joined) before the answer
    # starts, then 1 MiB pieces follow with back-pressure: well under the share.
    assert peak < 12 * MiB, peak


@pytest_twisted.ensureDeferred
async def test_allocations_past_the_per_client_cap_get_429(gbs: Gbs) -> None:
    # Never-written allocations of 256 shares each, all from 127.0.0.1.
    everything = set(range(256))
    for _ in range(MAX_UPLOADS_PER_CLIENT // 256):
        reply = await gbs.allocate(new_si(), everything, 1000)
        assert reply.code == 200
        assert reply.cbor()["allocated"] == everything
    si = new_si()
    reply = await gbs.allocate(si, {0}, 1000)
    assert reply.code == 429
    assert (
        reply.body
        == (
            f"this client already has {MAX_UPLOADS_PER_CLIENT} uploads in progress"
            f" (at most {MAX_UPLOADS_PER_CLIENT}); finish or abort some first"
        ).encode()
    )
    assert gbs.server.uploads.in_progress(si) == frozenset()
    version = await gbs.request("GET", "/storage/v1/version")
    assert version.code == 200


@pytest_twisted.ensureDeferred
async def test_every_cbor_endpoint_decodes_within_the_budget(
    gbs: Gbs, lease_view: Gbs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The class: no endpoint decodes a CBOR body past the item budget."""
    si = new_si()
    await gbs.upload(si, 0, b"immutable")
    assert (await gbs.rtw(si, {1: {"test": [], "write": [], "new-length": None}}, [])).code == 200
    # Valid bodies (each of at least 3 items): a 400 can only be the budget's.
    monkeypatch.setattr(cbor_codec, "MAX_ITEMS", 2)
    sends = [
        gbs.allocate(new_si(), {0}, 10),
        gbs.request("POST", f"/storage/v1/immutable/{si.text}/0/corrupt", cbor={"reason": "x"}),
        gbs.request("POST", f"/storage/v1/mutable/{si.text}/1/corrupt", cbor={"reason": "x"}),
        gbs.rtw(si, {}, []),
        lease_view.request("POST", "/clock/advance", cbor={"seconds": 1}),
    ]
    for send in sends:
        reply = await send
        assert reply.code == 400
        assert reply.body in (b"", b"CBOR body holds more than 2 items")
    assert lease_view.clock.seconds() == START_TIME
    assert gbs.server.uploads.count() == 0
