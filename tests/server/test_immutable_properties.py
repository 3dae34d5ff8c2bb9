"""Property: immutable writes in any order, repeated and overlapping (with equal bytes)
assemble exactly the uploaded bytes; ``required`` is always exactly what is missing;
the share completes on the write that supplies its last byte and not before.
"""

from __future__ import annotations

import itertools

import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.errors import ConflictingWrite
from tahoe_cloud.server.messages import ByteRange, LeaseSecrets
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import StorageIndex
from tests.server.threaded import in_thread, run

LEASE = LeaseSecrets(renew=b"r" * 32, cancel=b"c" * 32)
SECRET = b"s" * 20
SI = StorageIndex(b"i" * 16)


@st.composite
def upload_plans(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    data = draw(st.binary(min_size=1, max_size=300))
    size = len(data)
    cuts = sorted(draw(st.sets(st.integers(1, size - 1), max_size=8))) if size > 1 else []
    bounds = [0, *cuts, size]
    pieces = list(itertools.pairwise(bounds))
    extra = draw(
        st.lists(
            st.tuples(st.integers(0, size), st.integers(0, size)).map(sorted).map(tuple),
            max_size=6,
        )
    )
    writes = draw(st.permutations(pieces + extra))
    return data, writes  # type: ignore[return-value]


def missing(received: set[int], size: int) -> tuple[ByteRange, ...]:
    result = []
    begin = None
    for i in range(size + 1):
        if i < size and i not in received:
            if begin is None:
                begin = i
        elif begin is not None:
            result.append(ByteRange(begin, i))
            begin = None
    return tuple(result)


@settings(max_examples=60, deadline=None)
@given(upload_plans(), st.integers(0, 255))
def check_any_order_assembles_the_same_bytes(
    plan: tuple[bytes, list[tuple[int, int]]], flip: int
) -> None:
    data, writes = plan
    size = len(data)
    server = StorageServer(MemoryBackend(), nodeid=b"n" * 20, clock=Clock())
    result = run(
        server.allocate_buckets(
            SI, lease=LEASE, upload_secret=SECRET, share_numbers=frozenset({0}), allocated_size=size
        )
    )
    assert result.allocated == {0}
    received: set[int] = set()
    for begin, end in writes:
        if len(received) == size:
            break
        overlap = received & set(range(begin, end))
        if overlap:
            # The same write with one overlapping byte changed is refused, changing nothing.
            bad = bytearray(data[begin:end])
            bad[min(overlap) - begin] ^= flip or 1
            try:
                run(
                    server.write_immutable(
                        SI, 0, upload_secret=SECRET, offset=begin, data=bytes(bad)
                    )
                )
            except ConflictingWrite:
                pass
            else:
                raise AssertionError("conflicting write accepted")
        answer = run(
            server.write_immutable(SI, 0, upload_secret=SECRET, offset=begin, data=data[begin:end])
        )
        received |= set(range(begin, end))
        assert answer.complete == (len(received) == size)
        assert answer.required == (() if answer.complete else missing(received, size))
    assert len(received) == size
    assert run(server.list_immutable_shares(SI)) == {0}
    assert run(server.read_immutable(SI, 0, 0, size + 10)) == data


@pytest_twisted.ensureDeferred
async def test_any_order_assembles_the_same_bytes() -> None:
    await in_thread(check_any_order_assembles_the_same_bytes)
