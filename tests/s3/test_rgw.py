"""cloud.s3 on Ceph RGW: what RGW does that moto does not, met through our own code.

RGW checks Content-MD5, accepts only its zonegroup's name as a bucket's
LocationConstraint, enforces the 5 MiB minimum part size and answers
CompleteMultipartUpload with an empty ETag. The cluster is the session's one
(``tests/support/ceph_rgw.py``); each test uses a bucket of its own.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import get_object, put_object
from tahoe_cloud.cli.check import check_node
from tahoe_cloud.cli.create_container import create_container
from tahoe_cloud.errors import ConfigError
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import NODEID, START_TIME, new_si, upload_share
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.makers import make_backend
from tests.support.ceph_rgw import REGION, RGWServer
from tests.support.s3 import create_s3_node

pytestmark = [pytest.mark.rgw]


def rgw_node(
    tmp_path: Path, rgw: RGWServer, bucket: str, region: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    return create_s3_node(
        tmp_path / f"node-{region}", rgw, bucket, monkeypatch=monkeypatch, region=region
    )


@pytest.mark.parametrize("region", ["us-east-1", REGION])
@pytest_twisted.ensureDeferred
async def test_create_container_and_check(
    rgw: RGWServer, region: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """us-east-1 sends no LocationConstraint; ``default`` is RGW's own zonegroup."""
    bucket = new_bucket_name()
    nodedir = rgw_node(tmp_path, rgw, bucket, region, monkeypatch)
    assert await create_container(nodedir) == f"Created bucket {bucket!r} in region {region}."
    assert "already exists" in await create_container(nodedir)
    line = await check_node(nodedir)
    assert line.startswith(f"OK: bucket {bucket!r} at {rgw.url}/{bucket}/ is reachable"), line


@pytest_twisted.ensureDeferred
async def test_a_region_rgw_refuses_names_s3_region(
    rgw: RGWServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodedir = rgw_node(tmp_path, rgw, new_bucket_name(), "eu-west-1", monkeypatch)
    with pytest.raises(ConfigError) as e:
        await create_container(nodedir)
    assert (e.value.section, e.value.key) == ("storage", "s3.region"), str(e.value)
    assert "InvalidLocationConstraint" in str(e.value)
    assert "'default'" in str(e.value)  # what to set instead
    assert rgw.secret_access_key not in str(e.value)


@pytest_twisted.ensureDeferred
async def test_content_md5_is_checked_by_rgw(rgw: RGWServer) -> None:
    """Our Content-MD5 is right (RGW stores the object); a wrong one is refused, not stored."""
    client = make_client(rgw, new_bucket_name())
    try:
        await client.create_bucket()
        data = os.urandom(70_000)
        await put_object(client, "good", data)
        assert (await get_object(client, "good")).body == data
        wrong = base64.b64encode(hashlib.md5(b"other", usedforsecurity=False).digest()).decode()
        with pytest.raises(S3Error) as e:
            await client.call("PutObject", "PUT", "bad", headers={"Content-MD5": wrong}, body=data)
        assert (e.value.status, e.value.code) == (400, "BadDigest")
        with pytest.raises(S3Error) as missing:
            await get_object(client, "bad")
        assert missing.value.not_found
    finally:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_multipart_upload_with_an_empty_completion_etag(rgw: RGWServer) -> None:
    """RGW answers CompleteMultipartUpload with ``<ETag></ETag>``: the object is whole anyway."""
    client = make_client(rgw, new_bucket_name())
    try:
        await client.create_bucket()
        parts = [os.urandom(mp.MIN_PART_SIZE), os.urandom(1000)]
        upload_id = await mp.create_multipart_upload(client, "big")
        etags = [
            await mp.upload_part(client, "big", upload_id, n, part)
            for n, part in enumerate(parts, start=1)
        ]
        assert await mp.complete_multipart_upload(client, "big", upload_id, etags) == ""
        assert (await get_object(client, "big")).body == b"".join(parts)
    finally:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_a_large_share_is_published_as_multipart(rgw: RGWServer, tmp_path: Path) -> None:
    """Parts streamed from the spool with Content-MD5 and payload hash, checked by RGW."""
    client = make_client(rgw, new_bucket_name())
    await client.create_bucket()
    backend = make_backend(
        client, tmp_path, multipart_threshold=6 * 1024 * 1024, part_size=mp.MIN_PART_SIZE
    )
    clock = Clock()
    clock.advance(START_TIME)
    server = StorageServer(backend, nodeid=NODEID, clock=clock)
    await server.start()
    try:
        si = new_si()
        data = os.urandom(12 * 1024 * 1024 + 17)
        await upload_share(server, si, 0, data)
        assert client.request_counts["UploadPart"] == 3
        assert (await server.read_immutable(si, 0, 0, len(data) + 5)) == data
        middle = 5 * 1024 * 1024 - 5
        assert (await server.read_immutable(si, 0, middle, 10)) == data[middle : middle + 10]
        assert [u async for u in mp.list_multipart_uploads(client, "")] == []
    finally:
        await server.stop()
