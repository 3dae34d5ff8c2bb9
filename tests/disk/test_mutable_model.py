"""Property: mutable shares on disk behave like a byte string with leases.

Random sequences of writes (with holes), new lengths and lease replacements
applied to a DiskBackend share and to a trivial in-memory model give the
same data and leases, and the file stays a valid upstream container.
"""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.formats import mutable as mut
from tahoe_cloud.testing import in_thread, run
from tahoe_cloud.vocabulary import Lease, StorageIndex, WriteEnabler, WriteVector

SI = StorageIndex(b"m" * 16)
ENABLER = WriteEnabler(nodeid=b"\x01" * 20, secret=b"\x02" * 32)

writes = st.lists(
    st.builds(WriteVector, offset=st.integers(0, 700), data=st.binary(max_size=80)), max_size=4
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), writes, st.none() | st.integers(0, 900)),
        st.tuples(st.just("leases"), st.integers(0, 7), st.integers(0, 2**32 - 1)),
    ),
    min_size=1,
    max_size=6,
)


def apply_model(data: bytes, vectors: list[WriteVector], new_length: int | None) -> bytes:
    buf = bytearray(data)
    for v in vectors:
        if not v.data:
            continue
        if len(buf) < v.offset:
            buf.extend(b"\0" * (v.offset - len(buf)))
        buf[v.offset : v.offset + len(v.data)] = v.data
    if new_length is not None:
        buf = buf[:new_length] + b"\0" * max(0, new_length - len(buf))
    return bytes(buf)


def make_leases(count: int, expiration: int) -> list[Lease]:
    return [
        Lease(n + 1, bytes([n]) * 32, bytes([n + 50]) * 32, expiration, nodeid=b"\x03" * 20)
        for n in range(count)
    ]


@pytest_twisted.ensureDeferred
async def test_mutable_share_matches_a_model(tmp_path: Path) -> None:
    counter = iter(range(10**6))

    @settings(max_examples=40, deadline=None)
    @given(operations)
    def check(ops: list[tuple[str, object, object]]) -> None:
        backend = DiskBackend(storage_dir=tmp_path / f"s{next(counter)}")
        run(backend.start())
        # ``check`` is not a coroutine: the share set's block is entered and left by hand.
        block = backend.shareset(SI)
        try:
            shares = run(block.__aenter__())
            handle = shares.new_mutable(0, ENABLER)
            run(handle.write([WriteVector(0, b"seed")], None))
            data, leases = b"seed", []
            for op in ops:
                if op[0] == "write":
                    vectors, new_length = op[1], op[2]
                    assert isinstance(vectors, list)
                    assert new_length is None or isinstance(new_length, int)
                    run(handle.write(vectors, new_length))
                    data = apply_model(data, vectors, new_length)
                else:
                    assert isinstance(op[1], int) and isinstance(op[2], int)
                    leases = make_leases(op[1], op[2])
                    run(shares.write_leases({0: leases}))
                assert run(handle.size()) == len(data)
                assert run(handle.read(0, 10_000)) == data
                stored = run(shares.read_leases())[0]
                assert [(s.owner_num, s.expiration) for s in stored] == [
                    (x.owner_num, x.expiration) for x in leases
                ]
                assert all(
                    s.renew_secret_matches(x.renew_secret)
                    for s, x in zip(stored, leases, strict=True)
                )
                parsed = mut.parse_container(backend.layout.share_path(SI, 0).read_bytes())
                assert parsed.data == data and parsed.header.version == 2
            assert [p.name for p in backend.layout.share_dir(SI).iterdir()] == ["0"]
        finally:
            run(block.__aexit__(None, None, None))
            run(backend.stop())

    await in_thread(check)
