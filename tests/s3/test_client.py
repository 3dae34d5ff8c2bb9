"""The S3 client verbs on moto: objects, conditional writes, ranges, listing, multipart."""

from __future__ import annotations

import pytest
import pytest_twisted

from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.objects import (
    delete_object,
    delete_objects,
    get_object,
    head_object,
    put_object,
)
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.moto import MotoServer

pytestmark = pytest.mark.s3


@pytest_twisted.ensureDeferred
async def test_put_get_head_delete(bucket_client: S3Client) -> None:
    c = bucket_client
    key = "a dir/some key~with+odd=chars&"
    etag = await put_object(c, key, b"hello world")
    assert etag
    assert (await get_object(c, key)).body == b"hello world"
    info = await head_object(c, key)
    assert info is not None and info.size == 11 and info.etag == etag
    await delete_object(c, key)
    assert await head_object(c, key) is None
    await delete_object(c, key)  # deleting a missing key is fine
    with pytest.raises(S3Error) as e:
        await get_object(c, key)
    assert e.value.not_found


@pytest_twisted.ensureDeferred
async def test_ranged_get(bucket_client: S3Client) -> None:
    c = bucket_client
    data = bytes(range(256)) * 40
    await put_object(c, "r", data)
    r = await get_object(c, "r", offset=100, size=50)
    assert r.body == data[100:150] and r.total_size == len(data)
    assert (await get_object(c, "r", offset=len(data) - 3, size=10)).body == data[-3:]
    assert (await get_object(c, "r", offset=len(data) + 5, size=10)).body == b""
    assert c.request_counts["GetObject"] == 3


@pytest_twisted.ensureDeferred
async def test_conditional_put(bucket_client: S3Client) -> None:
    c = bucket_client
    etag = await put_object(c, "k", b"one", if_none_match=True)
    with pytest.raises(S3Error) as e:
        await put_object(c, "k", b"two", if_none_match=True)
    assert e.value.precondition_failed
    etag2 = await put_object(c, "k", b"two", if_match=etag)
    with pytest.raises(S3Error) as e:
        await put_object(c, "k", b"three", if_match=etag)
    assert e.value.precondition_failed
    assert (await get_object(c, "k")).body == b"two"
    assert etag2 != etag


@pytest_twisted.ensureDeferred
async def test_listing_paginates_and_delete_objects(bucket_client: S3Client) -> None:
    c = bucket_client
    keys = [f"p/{i:03d}" for i in range(25)] + ["q/1", "p0"]
    for k in keys:
        await put_object(c, k, k.encode())
    before = c.request_counts.get("ListObjectsV2", 0)
    listed = await list_all(c, "p/", page_size=10)
    assert [o.key for o in listed] == sorted(k for k in keys if k.startswith("p/"))
    assert c.request_counts["ListObjectsV2"] - before == 3
    await delete_objects(c, [o.key for o in listed])
    assert [o.key for o in await list_all(c, "")] == ["p0", "q/1"]


@pytest_twisted.ensureDeferred
async def test_multipart(bucket_client: S3Client) -> None:
    c = bucket_client
    part1 = b"a" * mp.MIN_PART_SIZE
    part2 = b"b" * 1000
    upload_id = await mp.create_multipart_upload(c, "big")
    pending = [u async for u in mp.list_multipart_uploads(c, "")]
    assert [(u.key, u.upload_id) for u in pending] == [("big", upload_id)]
    assert await head_object(c, "big") is None  # invisible until complete
    e1 = await mp.upload_part(c, "big", upload_id, 1, part1)
    e2 = await mp.upload_part(c, "big", upload_id, 2, part2)
    await mp.complete_multipart_upload(c, "big", upload_id, [e1, e2])
    r = await get_object(c, "big", offset=mp.MIN_PART_SIZE - 2, size=4)
    assert r.body == b"aabb"
    # An aborted upload leaves nothing.
    upload_id = await mp.create_multipart_upload(c, "gone")
    await mp.upload_part(c, "gone", upload_id, 1, part2)
    await mp.abort_multipart_upload(c, "gone", upload_id)
    assert [u async for u in mp.list_multipart_uploads(c, "")] == []
    assert await head_object(c, "gone") is None


@pytest_twisted.ensureDeferred
async def test_missing_bucket(moto: MotoServer) -> None:
    c = make_client(moto, new_bucket_name())
    with pytest.raises(S3Error) as e:
        await c.head_bucket()
    assert e.value.code == "NoSuchBucket"
    assert "s3.bucket" in str(e.value)
    assert await c.create_bucket() is True
    await c.head_bucket()
    await c.close()


@pytest_twisted.ensureDeferred
async def test_unreachable_endpoint(moto: MotoServer) -> None:
    from tests.s3.moto import free_port

    c = make_client(moto, "b-unreachable", url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(S3Error) as e:
        await c.head_bucket()
    assert e.value.status is None and e.value.transient
    assert c.request_counts["HeadBucket"] == 4  # retried up to max_attempts
    await c.close()


@pytest_twisted.ensureDeferred
async def test_whole_reads_are_checked(bucket_client: S3Client) -> None:
    from tahoe_cloud.backends.s3.objectstore.objects import MD5_META, content_md5

    c = bucket_client
    await put_object(c, "ok", b"checked bytes")
    assert (await get_object(c, "ok")).body == b"checked bytes"
    assert (await get_object(c, "ok", offset=0, size=100)).body == b"checked bytes"
    # An object whose stored MD5 does not match its bytes: read again under the
    # retry policy (a transient fault), then refused.
    body = b"these bytes"
    headers = {"Content-MD5": content_md5(body), MD5_META: content_md5(b"other bytes")}
    await c.call("PutObject", "PUT", "bad", headers=headers, body=body)
    before = c.request_counts["GetObject"]
    with pytest.raises(S3Error) as e:
        await get_object(c, "bad")
    assert e.value.code == "DamagedResponse" and e.value.transient
    assert c.request_counts["GetObject"] - before == c.retrier.policy.max_attempts
    # A range of it cannot be checked, and is returned.
    assert (await get_object(c, "bad", offset=1, size=4)).body == b"hese"
