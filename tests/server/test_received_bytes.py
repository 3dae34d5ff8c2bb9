"""ReceivedBytes: the received-bytes bookkeeping, against a plain set of offsets."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tahoe_cloud.server.messages import ByteRange
from tahoe_cloud.server.received_bytes import ReceivedBytes

spans = st.tuples(st.integers(0, 60), st.integers(0, 60)).map(sorted).map(tuple)


def as_set(pairs: list[tuple[int, int]]) -> set[int]:
    return {i for b, e in pairs for i in range(b, e)}


@settings(max_examples=200)
@given(st.lists(spans, max_size=12), spans)
def test_against_a_set_of_offsets(added: list[tuple[int, int]], query: tuple[int, int]) -> None:
    ranges = ReceivedBytes()
    model: set[int] = set()
    for b, e in added:
        ranges.add(b, e)
        model |= set(range(b, e))
    intervals = ranges.intervals()
    # Merged, sorted, non-touching, non-empty.
    for (_, e1), (b2, _) in itertools.pairwise(intervals):
        assert e1 < b2
    assert all(b < e for b, e in intervals)
    assert as_set(intervals) == model
    assert ranges.total == len(model)
    qb, qe = query
    window = set(range(qb, qe))
    covered = ranges.covered(qb, qe)
    missing = ranges.missing(qb, qe)
    assert as_set(covered) == window & model
    assert as_set(missing) == window - model
    assert sum(e - b for b, e in covered + missing) == len(window)


def test_required() -> None:
    ranges = ReceivedBytes()
    assert ranges.required(10) == (ByteRange(0, 10),)
    ranges.add(3, 5)
    ranges.add(5, 7)
    assert ranges.intervals() == [(3, 7)]
    assert ranges.required(10) == (ByteRange(0, 3), ByteRange(7, 10))
    ranges.add(0, 10)
    assert ranges.required(10) == ()
    ranges.add(4, 4)
    assert ranges.intervals() == [(0, 10)]
