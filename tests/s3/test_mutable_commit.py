"""The mutable head PUT is the commit point: a failure of unknown outcome must not lose data.

When the head PUT lands but its answer is lost (connection dropped, every
retry failed), the committed head names the new chunks: deleting them would
make the share unreadable for good. Only a definite refusal (412 or another
non-transient 4xx) lets the write delete what it put.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3 import mutable
from tahoe_cloud.backends.s3.objectstore.errors import S3ConnectionError, S3Error
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.objects import put_object
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.testing import run
from tahoe_cloud.testing.support import new_si, start_clock, write_enabler
from tests.s3.conftest import S3Service
from tests.s3.test_backend import Node, bucket, rtw

pytestmark = pytest.mark.s3

__all__ = ["bucket"]  # the fixture, imported for the tests below


@pytest.fixture
def clock() -> Clock:
    return start_clock()


@pytest.fixture
def node(service: S3Service, bucket: str, tmp_path: Path, clock: Clock) -> Iterator[Node]:
    n = Node(service, bucket, tmp_path, clock, inline_limit=10, chunk_size=16)
    run(n.server.start())
    yield n
    run(n.server.stop())


def fail_head_put(monkeypatch: pytest.MonkeyPatch, error: S3Error, *, land: bool) -> list[str]:
    """Make the next PUT of a mutable head raise ``error``, after landing if ``land``."""
    real = put_object
    failed: list[str] = []

    async def put(client: Any, key: str, body: bytes, **kw: Any) -> str:
        if key.endswith(".mutable") and not failed:
            failed.append(key)
            if land:
                await real(client, key, body, **kw)
            raise error
        return await real(client, key, body, **kw)

    monkeypatch.setattr(mutable, "put_object", put)
    return failed


async def chunk_keys(node: Node) -> set[str]:
    return {o.key for o in await list_all(node.client, "mutable-chunks/")}


@pytest.mark.parametrize("land", [True, False])
@pytest.mark.parametrize("create", [True, False])
@pytest_twisted.ensureDeferred
async def test_head_put_with_lost_answer_keeps_the_share_readable(
    node: Node, monkeypatch: pytest.MonkeyPatch, land: bool, create: bool
) -> None:
    si, we = new_si(), write_enabler()
    old = b"" if create else b"A" * 40
    if not create:
        await rtw(node, si, we, 0, (0, old))
    failed = fail_head_put(
        monkeypatch, S3ConnectionError("PutObject", "connection lost"), land=land
    )
    with pytest.raises(BackendError):
        await rtw(node, si, we, 0, (0, b"B" * 40))
    assert failed
    expected = b"B" * 40 if land else old
    # The share reads back whole: the new content if the PUT landed, else the old.
    for _ in range(2):
        if create and not land:
            with pytest.raises(ShareNotFound):
                await node.server.read_mutable(si, 0, 0, 100)
        else:
            assert (await node.server.read_mutable(si, 0, 0, 100)) == expected
        node.backend.store.listings.clear()  # and so it does for a server with empty caches
    # A later write works, and reads back.
    await rtw(node, si, we, 0, (8, b"C" * 40))
    want = bytearray(expected.ljust(8, b"\0"))
    want[8:48] = b"C" * 40
    assert (await node.server.read_mutable(si, 0, 0, 100)) == bytes(want)
    # Anything left over is an orphan the collector removes, never a referenced chunk.
    await node.backend.maintenance.collect_orphans(min_age=0)
    assert (await node.server.read_mutable(si, 0, 0, 100)) == bytes(want)


@pytest_twisted.ensureDeferred
async def test_a_definite_refusal_deletes_the_new_chunks(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    si, we = new_si(), write_enabler()
    await rtw(node, si, we, 0, (0, b"A" * 40))
    before = await chunk_keys(node)
    assert len(before) == 3
    fail_head_put(monkeypatch, S3Error("PutObject", 412, "PreconditionFailed"), land=False)
    with pytest.raises(BackendError, match="changed by another writer"):
        await rtw(node, si, we, 0, (0, b"B" * 40))
    assert (await chunk_keys(node)) == before  # no garbage left behind
    assert (await node.server.read_mutable(si, 0, 0, 100)) == b"A" * 40
