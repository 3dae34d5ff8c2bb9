"""Conditional writes on a real Ceph RGW 16: the probe finds the unquoted form, and it works.

RGW 16 refuses ``If-Match`` with the ETag quoted (412 even when it matches)
and answers 412 to ``If-Match`` on a missing key. Before the probe every
mutable overwrite and lease renewal failed there, blamed on "another writer".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.conditions import STANDARD
from tahoe_cloud.errors import BackendError
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import NODEID, START_TIME, lease_secrets, new_si, upload_share
from tahoe_cloud.vocabulary import WriteVector
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.makers import make_backend
from tests.support.ceph_rgw import RGWServer

pytestmark = [pytest.mark.rgw]

DAY = 24 * 3600


async def rtw(server: StorageServer, si: Any, data: bytes) -> m.ReadTestWriteResult:
    return await server.read_test_write(
        si,
        write_enabler=b"w" * 32,
        lease=lease_secrets(),
        vectors={0: m.TestWriteVectors(writes=(WriteVector(0, data),), new_length=None)},
        read_vector=[],
    )


@pytest_twisted.ensureDeferred
async def test_overwrites_and_renewals_on_rgw(rgw: RGWServer, tmp_path: Path) -> None:
    client = make_client(rgw, new_bucket_name())
    await client.create_bucket()
    clock = Clock()
    clock.advance(START_TIME)
    backend = make_backend(client, tmp_path, keys=KeyLayout("p/"), inline_limit=1024)
    server = StorageServer(backend, nodeid=NODEID, clock=clock)
    await server.start()
    report = backend.probe_report
    assert report is not None and report.usable, report
    assert report.conditions.if_match_form == "unquoted"
    assert report.requests == 11
    assert any("does not exist with 412" in q for q in report.quirks)
    for first, second in ((b"A" * 300, b"B" * 400), (os.urandom(300_000), os.urandom(300_000))):
        si = new_si()
        assert (await rtw(server, si, first)).success
        assert (await rtw(server, si, second)).success
        assert await server.read_mutable(si, 0, 0, len(second)) == second
    si = new_si()
    await upload_share(server, si, 0, b"immutable")
    before = max(x.expiration for x in (await server.get_leases(si))[0])
    clock.advance(DAY)
    await server.add_or_renew_lease(si, lease_secrets())
    assert max(x.expiration for x in (await server.get_leases(si))[0]) == before + DAY
    # The quoted form, which RGW refuses although it holds: never "another writer".
    client.conditions = STANDARD
    si = new_si()
    await rtw(server, si, b"one")
    with pytest.raises(BackendError) as caught:
        await rtw(server, si, b"two")
    assert "condition held" in str(caught.value)
    assert "another writer" not in str(caught.value)
    await server.stop()
