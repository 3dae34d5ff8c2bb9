"""Drive a running tahoe-cloud storage resource with the STOCK tahoe-lafs 1.20 HTTP client.

Run with the upstream virtualenv's Python (``tools/upstream-venv``), not
tahoe-cloud's: ``python upstream_client_check.py http://127.0.0.1:PORT SWISSNUM``.
Plain HTTP: the stock ``StorageClient`` is built directly (its factory insists
on TLS, which the node's tests cover). Every step asserts what the stock
client accepted; the script prints one line per step and exits non-zero on
the first failure.
"""

from __future__ import annotations

import os
import sys

from allmydata.storage.http_client import (
    ClientException,
    ReadVector,
    StorageClient,
    StorageClientGeneral,
    StorageClientImmutables,
    StorageClientMutables,
    TestVector,
    TestWriteVectors,
    WriteVector,
)
from allmydata.storage.http_common import response_is_not_html
from allmydata.storage_client import _HTTPStorageServer
from hyperlink import DecodedURL
from treq.client import HTTPClient
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import react
from twisted.web.client import Agent, HTTPConnectionPool


def step(name: str) -> None:
    print("ok:", name, flush=True)


async def check(reactor, base: str, swissnum: bytes) -> None:
    pool = HTTPConnectionPool(reactor, persistent=False)
    client = StorageClient(
        DecodedURL.from_text(base),
        swissnum,
        HTTPClient(Agent(reactor, pool=pool)),
        pool,
        reactor,
        response_is_not_html,
    )
    general = StorageClientGeneral(client)
    imm = StorageClientImmutables(client)
    mut = StorageClientMutables(client)

    version = await general.get_version()
    assert b"http://allmydata.org/tahoe/protocols/storage/v1" in version
    step("get_version (schema-validated by the client)")

    si = os.urandom(16)
    upload, renew, cancel = os.urandom(20), os.urandom(32), os.urandom(32)
    data = os.urandom(5 * 1024 * 1024 + 17)
    created = await imm.create(si, {0, 1, 2}, len(data), upload, renew, cancel)
    assert created.already_have == set() and created.allocated == {0, 1, 2}, created
    step("immutable create")

    chunk = 1024 * 1024
    offsets = list(range(0, len(data), chunk))
    for offset in reversed(offsets):  # out of order on purpose
        progress = await imm.write_share_chunk(si, 0, upload, offset, data[offset : offset + chunk])
    assert progress.finished, progress
    progress = await imm.write_share_chunk(si, 1, upload, 0, data[:100])
    assert not progress.finished and [(r.start, r.stop) for r in progress.required.ranges()] == [
        (100, len(data))
    ], progress
    step("write_share_chunk: 200 with required ranges, 201 when complete")

    try:
        await imm.write_share_chunk(si, 1, upload, 50, b"X" * 100)
    except ClientException as e:
        assert e.code == 409, e.code
    else:
        raise AssertionError("conflicting write accepted")
    step("conflicting write -> 409")

    await imm.abort_upload(si, 1, upload)
    step("abort_upload")
    try:
        await imm.abort_upload(si, 0, upload)
    except ClientException as e:
        assert e.code == 405, e.code
    else:
        raise AssertionError("abort of a completed share accepted")
    step("abort of a completed share -> 405")

    assert await imm.list_shares(si) == {0}
    step("immutable list_shares (tag-258 set)")

    assert await imm.read_share_chunk(si, 0, 10, 1000) == data[10:1010]
    assert await imm.read_share_chunk(si, 0, 0, len(data)) == data
    assert await imm.read_share_chunk(si, 0, 7, 2 * len(data)) == data[7:]
    assert await imm.read_share_chunk(si, 0, len(data) - 5, 100) == data[-5:]
    assert await imm.read_share_chunk(si, 0, len(data), 100) == b""
    assert await imm.read_share_chunk(si, 0, len(data) + 1000, 100) == b""
    step(
        "immutable read_share_chunk: 206 (exact, whole 5 MiB streamed, truncated), 204 past the end"
    )

    await imm.advise_corrupt_share(si, 0, "checksum mismatch")
    step("immutable advise_corrupt_share")

    await general.add_or_renew_lease(si, renew, cancel)
    await general.add_or_renew_lease(si, os.urandom(32), os.urandom(32))
    step("add_or_renew_lease -> 204")

    msi, we = os.urandom(16), os.urandom(32)
    result = await mut.read_test_write_chunks(
        msi,
        we,
        renew,
        cancel,
        {
            0: TestWriteVectors(write_vectors=[WriteVector(0, b"mutable data 0")]),
            5: TestWriteVectors(write_vectors=[WriteVector(0, b"mutable data 5")]),
        },
        [ReadVector(0, 7)],
    )
    assert result.success and dict(result.reads) == {}, result
    result = await mut.read_test_write_chunks(
        msi,
        we,
        renew,
        cancel,
        {
            0: TestWriteVectors(
                test_vectors=[TestVector(0, 7, b"mutable")], write_vectors=[WriteVector(8, b"DATA")]
            )
        },
        [ReadVector(0, 7), ReadVector(8, 4)],
    )
    assert result.success and dict(result.reads) == {
        0: [b"mutable", b"data"],
        5: [b"mutable", b"data"],
    }, result
    result = await mut.read_test_write_chunks(
        msi,
        we,
        renew,
        cancel,
        {
            0: TestWriteVectors(
                test_vectors=[TestVector(0, 3, b"nop")], write_vectors=[WriteVector(0, b"!")]
            )
        },
        [],
    )
    assert not result.success
    step("read_test_write_chunks (success, reads before writes, failed test)")

    try:
        await mut.read_test_write_chunks(
            msi, os.urandom(32), renew, cancel, {0: TestWriteVectors()}, []
        )
    except ClientException as e:
        assert e.code == 401, e.code
    else:
        raise AssertionError("wrong write enabler accepted")
    step("wrong write enabler -> 401")

    assert await mut.list_shares(msi) == {0, 5}
    assert await mut.read_share_chunk(msi, 0, 0, 100) == b"mutable DATA 0"
    assert await mut.read_share_chunk(msi, 0, 100, 10) == b""
    step("mutable list_shares and read_share_chunk")
    await mut.advise_corrupt_share(msi, 5, "bad signature")
    step("mutable advise_corrupt_share")

    # The IStorageServer adapter the real client uses, end to end.
    server = _HTTPStorageServer.from_http_client(client)
    si2 = os.urandom(16)
    already, writers = await server.allocate_buckets(si2, renew, cancel, {0, 1}, 1000, None)
    assert already == set() and set(writers) == {0, 1}
    for n, writer in writers.items():
        await writer.callRemote("write", 0, bytes([n]) * 1000)
        await writer.callRemote("close")
    buckets = await server.get_buckets(si2)
    assert set(buckets) == {0, 1}
    assert await buckets[1].callRemote("read", 0, 2000) == b"\x01" * 1000
    await server.add_lease(os.urandom(16), renew, cancel)  # no shares: the adapter ignores the 404
    step("IStorageServer adapter: allocate, write, close, get_buckets, read, add_lease")
    await pool.closeCachedConnections()


def main(reactor, base: str, swissnum: str) -> Deferred[None]:
    return ensureDeferred(check(reactor, base, swissnum.encode("ascii")))


if __name__ == "__main__":
    react(main, sys.argv[1:3])
