"""The CBOR decoder's item budget: no body, whatever it declares, builds more than it allows."""

from __future__ import annotations

import struct
import time
import tracemalloc
from typing import Any

import cbor2
import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st

from tahoe_cloud.http import cbor_codec, schemas
from tahoe_cloud.http.cbor_decoder import SLICE, BudgetedDecoder, CBORRefused
from tahoe_cloud.http.errors import HTTPError
from tahoe_cloud.server.limits import MAX_WRITE_VECTORS
from tahoe_cloud.vocabulary import MAX_READ_VECTORS, MAX_SHARES_PER_REQUEST, MAX_TEST_VECTORS

MiB = 1024 * 1024


def nested_bomb(pairs: int) -> bytes:
    """One definite-length array of ``pairs`` ``[[]]`` items (2 bytes each)."""
    return b"\x9a" + struct.pack(">I", pairs) + b"\x81\x80" * pairs


def undeclared_bomb(outer: int, inner: int) -> bytes:
    """Arrays of modest declared length, nested, ``outer * inner`` empty arrays in all."""
    return (
        b"\x9a"
        + struct.pack(">I", outer)
        + (b"\x99" + struct.pack(">H", inner) + b"\x80" * inner) * outer
    )


def peak_while(call: Any) -> int:
    """Peak traced memory (bytes) of ``call()``."""
    tracemalloc.start()
    try:
        try:
            call()
        except HTTPError:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def largest_valid_read_test_write() -> dict[str, Any]:
    """Every vector count at its limit at once."""
    test = {"offset": 2**64 - 1, "size": 2**64 - 1, "specimen": b""}
    per_share = MAX_WRITE_VECTORS // MAX_SHARES_PER_REQUEST
    return {
        "test-write-vectors": {
            n: {
                "test": [test] * MAX_TEST_VECTORS,
                "write": [{"offset": 2**64 - 1, "data": b""}] * per_share,
                "new-length": 2**64 - 1,
            }
            for n in range(MAX_SHARES_PER_REQUEST)
        },
        "read-vector": [{"offset": 2**64 - 1, "size": 2**64 - 1}] * MAX_READ_VECTORS,
    }


def test_the_largest_valid_request_fits_the_budget() -> None:
    body = largest_valid_read_test_write()
    vectors, reads = schemas.parse_read_test_write(cbor_codec.decode(cbor2.dumps(body)))
    assert sum(len(v.writes) for v in vectors.values()) == MAX_WRITE_VECTORS
    assert len(reads) == MAX_READ_VECTORS


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(nested_bomb(MiB), id="declared-2M-items"),
        pytest.param(undeclared_bomb(2048, 1024), id="nested-2M-items"),
        pytest.param(b"\x9b" + b"\xff" * 8, id="declares-2^64-items"),
        pytest.param(b"\xbb" + b"\x7f" * 8 + b"\x00" * 64, id="map-declares-2^63-entries"),
    ],
)
def test_bombs_are_refused_in_bounded_memory_and_time(body: bytes) -> None:
    started = time.process_time()
    with pytest.raises(HTTPError) as e:
        cbor_codec.decode(body)
    seconds = time.process_time() - started
    assert e.value.code == 400
    peak = peak_while(lambda: cbor_codec.decode(body))
    # The body itself is not traced (it was allocated before); what decoding
    # builds is bounded by the budget: about 100 bytes per item at most.
    assert peak < 40 * MiB, peak
    assert seconds < 5, seconds


def test_budget_message() -> None:
    with pytest.raises(HTTPError) as e:
        cbor_codec.decode(undeclared_bomb(2048, 1024))
    assert e.value.reason == f"CBOR body holds more than {cbor_codec.MAX_ITEMS} items"


def items_in(value: object) -> int:
    if isinstance(value, list | set | frozenset):
        return 1 + sum(items_in(v) for v in value) + (1 if isinstance(value, set) else 0)
    if isinstance(value, dict):
        return 1 + sum(items_in(k) + items_in(v) for k, v in value.items())
    return 1


leaves = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.binary(max_size=8),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
)
keys = st.one_of(st.integers(min_value=0, max_value=2**64 - 1), st.text(max_size=4))
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=40,
)


@settings(max_examples=300)
@given(values, st.integers(min_value=1, max_value=60))
def test_any_value_decodes_exactly_within_its_budget(value: object, budget: int) -> None:
    """The class: a value decodes (to itself) iff its items fit the budget."""
    data = cbor2.dumps(value)
    decoder = BudgetedDecoder(data, max_items=budget, max_depth=64)
    if items_in(value) <= budget:
        for _ in decoder.steps():
            pass
        assert decoder.value == value
        assert decoder.end == len(data)
    else:
        with pytest.raises(CBORRefused):
            for _ in decoder.steps():
                pass


@settings(max_examples=300)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_arbitrary_bytes_never_pass_the_budget(data: bytes, budget: int) -> None:
    """Whatever the bytes, decoding stops before building more than the budget."""
    decoder = BudgetedDecoder(data, max_items=budget, max_depth=12)
    try:
        for _ in decoder.steps():
            pass
    except CBORRefused:
        return
    assert items_in(decoder.value) <= budget


@pytest_twisted.ensureDeferred
async def test_large_bodies_are_decoded_between_other_events() -> None:
    from twisted.internet import reactor
    from twisted.internet.task import LoopingCall

    ticks = []
    ticker = LoopingCall(lambda: ticks.append(1))
    ticker.clock = reactor
    ticker.start(0.001, now=False)
    try:
        body = cbor2.dumps([[] for _ in range(40 * SLICE)])
        assert await cbor_codec.decode_body(body) == [[]] * (40 * SLICE)
        with pytest.raises(HTTPError):
            await cbor_codec.decode_body(undeclared_bomb(1024, 1024))
    finally:
        ticker.stop()
    # The reactor ran other events while the bodies were being decoded.
    assert len(ticks) >= 2


@pytest_twisted.ensureDeferred
async def test_the_collector_is_paused_only_while_decoding() -> None:
    import gc

    body = cbor2.dumps([[] for _ in range(4 * SLICE)])
    seen: list[bool] = []
    steps = BudgetedDecoder.steps

    def watched(self: BudgetedDecoder) -> Any:
        for step in steps(self):
            seen.append(gc.isenabled())
            yield step

    BudgetedDecoder.steps = watched  # type: ignore[method-assign]
    try:
        assert gc.isenabled()
        await cbor_codec.decode_body(body)
        with pytest.raises(HTTPError):
            await cbor_codec.decode_body(undeclared_bomb(1024, 1024))
        assert gc.isenabled()
        gc.disable()
        try:
            await cbor_codec.decode_body(body)
            assert not gc.isenabled()  # left as the caller had it
        finally:
            gc.enable()
    finally:
        BudgetedDecoder.steps = steps  # type: ignore[method-assign]
    assert seen and not any(seen)
