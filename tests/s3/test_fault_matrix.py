"""Every S3 fault on every kind of request, one at a time, through the backend on moto.

A random 10% fault rate finds a defect only in some runs. Here each cell
of the matrix (fault kind x request kind) arms the proxy to give exactly
that fault to the first ``IN_A_ROW`` requests of that kind, then runs the
step that sends them (fewer than the retry policy's attempts, more than any
shortcut retry loop of its own). Every cell must end as if nothing happened: the step succeeds (one
fault is always retried through), every share written reads back intact,
no multipart upload is left open, and nothing is logged as an error
(an unhandled error in Twisted is only logged, never raised).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import pytest_twisted

from tahoe_cloud.backends.s3.backend import S3Backend
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.objects import delete_objects
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import lease_secrets, new_si, upload_share
from tahoe_cloud.vocabulary import WriteVector
from tests.s3.conftest import make_client
from tests.s3.logwatch import describe, logged_errors
from tests.s3.moto import MotoServer
from tests.s3.proxy import BODY_FAULTS, MID_BODY, FaultProxy, Recorded
from tests.s3.test_proxy import proxied, server_on

pytestmark = pytest.mark.s3

__all__ = ["proxied"]

MiB = 1024 * 1024

FAULTS = ("slowdown", "error500", "reset", "reset_after", "cut", "damage")
IN_A_ROW = 3


def _share_object(r: Recorded) -> bool:
    return "/shares/" in r.path and not r.path.endswith(".mutable")


KINDS: dict[str, Callable[[Recorded], bool]] = {
    "put-share": lambda r: r.operation == "PUT" and _share_object(r),
    "put-leases": lambda r: r.operation == "PUT" and "/leases/" in r.path,
    "upload-part": lambda r: r.operation == "UPLOAD-PART",
    "complete": lambda r: r.operation == "MULTIPART-COMPLETE",
    "get-range": lambda r: r.operation == "GET" and _share_object(r) and "range" in r.headers,
    "get-leases": lambda r: r.operation == "GET" and "/leases/" in r.path,
    "get-mutable-head": lambda r: r.operation == "GET" and r.path.endswith(".mutable"),
    "list": lambda r: r.operation == "LIST",
    "delete": lambda r: r.operation == "DELETE",
}


# Requests whose answer has no body.
EMPTY_ANSWERS = ("put-share", "put-leases", "upload-part", "delete")


class Cell:
    """One node on a prefix of its own, and the step that must meet the armed fault."""

    def __init__(self, server: StorageServer, proxy: FaultProxy, kind: str, fault: str) -> None:
        self.server = server
        self.backend: S3Backend = server.backend  # type: ignore[assignment]
        self.proxy = proxy
        self.kind = kind
        self.fault = fault
        self.met = 0

    async def step(self, targets: tuple[str, ...], action: Callable[[], Awaitable[object]]) -> None:
        """Run ``action``; if it is the step for this cell's kind, with the fault armed."""
        armed = self.kind in targets
        if armed:
            for _ in range(IN_A_ROW):
                self.proxy.arm(KINDS[self.kind], self.fault)
        await action()
        if armed:
            if self.kind in EMPTY_ANSWERS and self.fault in BODY_FAULTS:
                # Nothing to cut or damage: the answer is taken as it is, not retried.
                assert self.proxy.armed < IN_A_ROW, f"no {self.kind} request in this step"
                self.proxy.disarm()
            assert self.proxy.armed == 0, f"fewer than {IN_A_ROW} {self.kind} requests were sent"
            self.met += 1


async def _scenario(cell: Cell) -> None:
    server, backend = cell.server, cell.backend
    we = os.urandom(32)
    small, small_data = new_si(), os.urandom(70_000)
    await cell.step(
        ("list", "put-leases", "put-share"), lambda: upload_share(server, small, 0, small_data)
    )
    big = big_data = None
    if cell.kind in ("upload-part", "complete"):
        big, big_data = new_si(), os.urandom(mp.MIN_PART_SIZE + MiB)
        await cell.step(("upload-part", "complete"), lambda: upload_share(server, big, 1, big_data))

    async def read_whole() -> None:
        assert await server.read_immutable(small, 0, 0, len(small_data)) == small_data

    async def read_part() -> None:
        got = await server.read_immutable(small, 0, 1000, 5000)
        assert got == small_data[1000:6000]

    await cell.step(("get-range",), read_whole)  # the whole object: checked against its MD5
    if cell.fault != "damage":
        # A part of an object has nothing to check its bytes against (the
        # client's hashes do that), but its length is checked.
        await cell.step(("get-range",), read_part)
    await cell.step(("get-leases",), lambda: server.add_or_renew_lease(small, lease_secrets()))
    mutable, content = new_si(), os.urandom(3000)

    async def write(new_length: int | None = None) -> None:
        vectors = {0: m.TestWriteVectors(writes=(WriteVector(0, content),), new_length=new_length)}
        result = await server.read_test_write(
            mutable, write_enabler=we, lease=lease_secrets(), vectors=vectors, read_vector=[]
        )
        assert result.success

    await write()
    backend.store.forget_mutable(mutable, 0)  # not in the head cache: the read GETs the head

    async def read_mutable() -> None:
        assert await server.read_mutable(mutable, 0, 0, len(content)) == content

    await cell.step(("get-mutable-head",), read_mutable)
    await cell.step(("delete",), lambda: write(new_length=0))
    assert cell.met, f"the scenario sent no {cell.kind} request"

    # Faults off: the bucket holds exactly what the scenario wrote.
    cell.proxy.fault_rate = 0
    backend.store.listings.forget(small)
    assert await server.list_immutable_shares(small) == {0}
    assert await server.read_immutable(small, 0, 0, len(small_data)) == small_data
    if big is not None and big_data is not None:
        assert await server.read_immutable(big, 1, 0, len(big_data)) == big_data
    backend.store.listings.forget(mutable)
    assert await server.list_mutable_shares(mutable) == frozenset()
    pending = [u async for u in mp.list_multipart_uploads(backend.client, backend.keys.prefix)]
    assert pending == []
    assert await backend.maintenance.collect_orphans(min_age=0) == 0


# The connection lost while the request's body is being sent: requests with a body.
CELLS = [(kind, fault) for kind in KINDS for fault in FAULTS] + [
    (kind, MID_BODY) for kind in ("put-share", "put-leases", "upload-part", "complete")
]


@pytest.mark.parametrize(("kind", "fault"), CELLS)
@pytest_twisted.ensureDeferred
async def test_one_fault(
    moto: MotoServer,
    proxied: tuple[FaultProxy, str, str],
    tmp_path: Path,
    kind: str,
    fault: str,
) -> None:
    proxy, url, bucket = proxied
    prefix = f"m-{uuid.uuid4().hex[:8]}/"
    server = server_on(
        moto,
        url,
        bucket,
        tmp_path,
        keys=KeyLayout(prefix),
        multipart_threshold=mp.MIN_PART_SIZE,
        part_size=mp.MIN_PART_SIZE,
        read_ahead=0,
    )
    await server.start()
    with logged_errors() as errors:
        try:
            await _scenario(Cell(server, proxy, kind, fault))
        finally:
            await server.stop()
            client = make_client(moto, bucket)
            await delete_objects(client, [o.key for o in await list_all(client, prefix)])
            await client.close()
    assert not errors, "\n".join(describe(e) for e in errors)
