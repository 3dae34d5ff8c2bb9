"""Publishing streams share bodies from the spool; their digests are hashed on the way in.

Checks the digests computed as bytes arrive against hashlib (in order, across
part boundaries, and after out-of-order writes, which fall back to reading
the spool), that a streamed body is re-read whole on every attempt, and that
shares written out of order publish intact, single PUT and multipart.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.interfaces import IConsumer
from twisted.internet.task import Clock, deferLater
from zope.interface import implementer

from tahoe_cloud.backends.s3 import upload
from tahoe_cloud.backends.s3.digests import Digests
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore import objects
from tahoe_cloud.backends.s3.objectstore.transport import FileSlice, _SliceProducer
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import NODEID, START_TIME, lease_secrets, new_si
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.makers import make_backend
from tests.s3.moto import MotoServer

MiB = 1024 * 1024


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 5000),
    part_size=st.integers(1, 1200),
    cuts=st.lists(st.integers(0, 5000), max_size=12),
)
def test_digests_fed_in_order_match_hashlib(size: int, part_size: int, cuts: list[int]) -> None:
    data = random.Random(size).randbytes(size)
    part_size = min(part_size, size) or 1
    d = Digests(size, part_size, sha256=True)
    bounds = sorted({0, size, *(c for c in cuts if c < size)})
    for begin, end in itertools.pairwise(bounds):
        d.feed(begin, data[begin:end])
    assert d.complete
    expected = [(o, data[o : o + part_size]) for o in range(0, size, part_size)] or [(0, b"")]
    assert [(p.offset, p.length) for p in d.parts] == [(o, len(b)) for o, b in expected]
    assert [p.md5 for p in d.parts] == [_md5(b) for _, b in expected]
    assert [p.sha256 for p in d.parts] == [hashlib.sha256(b).hexdigest() for _, b in expected]
    assert d.whole_md5 == _md5(data)


def test_out_of_order_writes_fall_back_to_the_spool(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    d = Digests(len(data), 4096, sha256=False)
    d.feed(5000, data[5000:])
    d.feed(0, data[:5000])
    assert not d.complete
    with (tmp_path / "spool").open("w+b") as f:
        f.write(data)
        f.flush()
        fresh = d.rehash(f)
    assert fresh.complete and fresh.whole_md5 == _md5(data)
    assert [p.md5 for p in fresh.parts] == [_md5(data[o : o + 4096]) for o in (0, 4096, 8192)]
    assert all(p.sha256 is None for p in fresh.parts)


def test_a_file_slice_is_read_afresh_each_time(tmp_path: Path) -> None:
    with (tmp_path / "f").open("w+b") as f:
        f.write(b"0123456789" * 100)
        f.flush()
        part = FileSlice(f, 95, 20)
        for _ in range(2):  # a retry reads the same bytes again
            got = part.read_at(0, 7) + part.read_at(7, 100) + part.read_at(20, 5)
            assert got == b"56789012345678901234"
        short = FileSlice(f, 990, 20)
        assert short.read_at(0, 30) == b"0123456789"
        with pytest.raises(OSError, match="shorter"):
            short.read_at(10, 30)


@implementer(IConsumer)
class _Consumer:
    """Collects what the producer writes (the producer only ever writes)."""

    def __init__(self, on_write: Callable[[], None] | None = None) -> None:
        self.chunks: list[bytes] = []
        self.on_write = on_write

    def write(self, data: bytes) -> None:
        self.chunks.append(data)
        if self.on_write is not None:
            self.on_write()

    def registerProducer(self, producer: object, streaming: bool) -> None:
        raise NotImplementedError

    def unregisterProducer(self) -> None:
        raise NotImplementedError


@pytest_twisted.ensureDeferred
async def test_the_body_producer_reads_off_the_reactor_and_honours_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool file is read in worker threads, one piece at a time, none while paused."""
    data = os.urandom(5 * 1024 + 3)
    reactor_thread = threading.get_ident()
    read_in: list[int] = []
    real = FileSlice.read_at

    def read_at(self: FileSlice, pos: int, size: int) -> bytes:
        read_in.append(threading.get_ident())
        return real(self, pos, size)

    monkeypatch.setattr(FileSlice, "read_at", read_at)
    with (tmp_path / "f").open("w+b") as f:
        f.write(b"x" * 7 + data)
        f.flush()
        producer = _SliceProducer(FileSlice(f, 7, len(data)), piece=1024)
        consumer = _Consumer()
        producer.pauseProducing()
        done = producer.startProducing(consumer)
        await deferLater(reactor, 0.05)
        assert consumer.chunks == [] and read_in == []  # paused: nothing read
        producer.resumeProducing()
        await done
    assert b"".join(consumer.chunks) == data and len(consumer.chunks) == 6
    assert read_in and reactor_thread not in read_in


@pytest_twisted.ensureDeferred
async def test_a_body_paused_after_its_last_piece_ends_only_when_resumed(tmp_path: Path) -> None:
    """The connection pauses the producer as it takes the last piece: the body is not
    done (and unregistered) until the connection resumes it. Ending while paused left
    the pooled connection "paused", so it resumed the next request's producer, which
    was never paused (NotPaused, logged as an unhandled error)."""
    data = os.urandom(3000)
    with (tmp_path / "f").open("w+b") as f:
        f.write(data)
        f.flush()
        producer = _SliceProducer(FileSlice(f, 0, len(data)), piece=1000)

        def pause_after_the_last_piece() -> None:
            if sum(map(len, consumer.chunks)) == len(data):
                producer.pauseProducing()  # the transport's buffer is full

        consumer = _Consumer(on_write=pause_after_the_last_piece)
        done = producer.startProducing(consumer)
        await deferLater(reactor, 0.1)
        assert b"".join(consumer.chunks) == data
        assert not done.called  # still registered with the connection
        producer.resumeProducing()
        await done


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("size", [3 * MiB + 5, 12 * MiB + 17])
async def test_shares_written_out_of_order_publish_intact(
    moto: MotoServer, tmp_path: Path, size: int
) -> None:
    bucket = new_bucket_name()
    client = make_client(moto, bucket)
    await client.create_bucket()
    backend = make_backend(
        client, tmp_path, multipart_threshold=6 * MiB, part_size=mp.MIN_PART_SIZE
    )
    clock = Clock()
    clock.advance(START_TIME)
    server = StorageServer(backend, nodeid=NODEID, clock=clock)
    await server.start()
    try:
        si, secret, data = new_si(), os.urandom(20), os.urandom(size)
        await server.allocate_buckets(
            si,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({0}),
            allocated_size=size,
        )
        pieces = list(range(0, size, MiB))
        random.Random(size).shuffle(pieces)
        for offset in pieces:
            chunk = data[offset : offset + MiB]
            await server.write_immutable(si, 0, upload_secret=secret, offset=offset, data=chunk)
        assert (await server.read_immutable(si, 0, 0, size)) == data
        multipart = client.request_counts.get("UploadPart", 0)
        assert multipart == (0 if size < 6 * MiB else 3)
    finally:
        await server.stop()


@pytest_twisted.ensureDeferred
async def test_spool_io_and_big_hashes_are_off_the_reactor(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spool writes and reads (even tiny ones) and MD5s over 64 KiB run in worker threads."""
    reactor_thread = threading.get_ident()
    seen: dict[str, list[int]] = {"write": [], "read": [], "md5": []}

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            seen[name].append(threading.get_ident())
            return real(*args)

        return call

    monkeypatch.setattr(upload, "_write_at", spy("write", upload._write_at))
    monkeypatch.setattr(upload, "_read_at", spy("read", upload._read_at))
    monkeypatch.setattr(objects, "content_md5", spy("md5", objects.content_md5))
    client = make_client(moto, new_bucket_name())
    await client.create_bucket()
    backend = make_backend(client, tmp_path)
    clock = Clock()
    clock.advance(START_TIME)
    server = StorageServer(backend, nodeid=NODEID, clock=clock)
    await server.start()
    try:
        si, secret = new_si(), os.urandom(20)
        await server.allocate_buckets(
            si,
            lease=lease_secrets(),
            upload_secret=secret,
            share_numbers=frozenset({0}),
            allocated_size=100,
        )
        await server.write_immutable(si, 0, upload_secret=secret, offset=0, data=b"a" * 60)
        # Overlapping the bytes received: the core reads them back to compare.
        await server.write_immutable(
            si, 0, upload_secret=secret, offset=50, data=b"a" * 10 + b"b" * 40
        )
        assert (await server.read_immutable(si, 0, 0, 100)) == b"a" * 60 + b"b" * 40
        assert len(seen["write"]) == 2 and seen["read"]
        assert reactor_thread not in seen["write"] + seen["read"]
        seen["md5"].clear()
        await objects.put_object(client, "big", os.urandom(100 * 1024))
        assert seen["md5"] and reactor_thread not in seen["md5"]
    finally:
        await server.stop()
