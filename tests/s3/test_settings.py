"""The s3.* settings end to end, from tahoe.cfg through ``create_backend`` to the bucket.

s3.prefix (servers sharing a bucket), the ownership marker and its explicit
override, s3.quota, s3.region (signing scope and bucket location) and
s3.addressing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from tahoe_cloud.backends.s3 import commands
from tahoe_cloud.backends.s3.config import create_backend, make_client, parse_s3_config
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.errors import BackendError
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import NODEID, new_si, upload_share
from tests.s3.conftest import new_bucket_name
from tests.s3.moto import MotoServer
from tests.s3.test_config import node_config

pytestmark = pytest.mark.s3


def on_moto(moto: MotoServer, nodedir: Path, bucket: str, extra: str = "") -> NodeConfig:
    return node_config(
        nodedir,
        url=moto.url,
        bucket=bucket,
        key_id=moto.access_key_id,
        secret=moto.secret_access_key,
        extra=extra,
    )


@pytest_twisted.ensureDeferred
async def test_prefix_marker_and_override(moto: MotoServer, tmp_path: Path) -> None:
    bucket = new_bucket_name()
    a_cfg = on_moto(moto, tmp_path / "a", bucket, "s3.prefix = srv1\n")
    assert "Created" in await commands.create_container(a_cfg)
    a = create_backend(a_cfg)
    await a.start()
    si = new_si()
    server = StorageServer(a, nodeid=NODEID, clock=reactor)
    await upload_share(server, si, 3, b"in srv1")
    await a.stop()
    client = make_client(parse_s3_config(a_cfg))
    keys = {o.key for o in await list_all(client, "")}
    assert keys == {
        "srv1/tahoe-cloud-node",
        f"srv1/leases/{si.prefix}/{si.text}",
        f"srv1/shares/{si.prefix}/{si.text}/3",
    }
    # The same node restarts fine: its id is kept in storage_dir/s3-node-id.
    a = create_backend(on_moto(moto, tmp_path / "a", bucket, "s3.prefix = srv1\n"))
    await a.start()
    await a.stop()
    # Another node on the same prefix is refused, with the way out named.
    b_cfg = on_moto(moto, tmp_path / "b", bucket, "s3.prefix = srv1\n")
    b = create_backend(b_cfg)
    with pytest.raises(BackendError) as e:
        await b.start()
    message = str(e.value)
    assert "belongs to another storage server" in message
    assert "s3.prefix" in message and "s3.override_marker = true" in message
    await b.stop()
    # ... but welcome under another prefix of the same bucket, seeing nothing of srv1.
    c = create_backend(on_moto(moto, tmp_path / "c", bucket, "s3.prefix = srv2\n"))
    await c.start()
    async with c.shareset(si) as share_set:
        assert not await share_set.list_shares()
    await c.stop()
    # The explicit override takes the prefix over; then the old owner is the one refused.
    b = create_backend(
        on_moto(moto, tmp_path / "b", bucket, "s3.prefix = srv1\ns3.override_marker = true\n")
    )
    await b.start()
    await b.stop()
    a = create_backend(on_moto(moto, tmp_path / "a", bucket, "s3.prefix = srv1\n"))
    with pytest.raises(BackendError, match="belongs to another storage server"):
        await a.start()
    await a.stop()
    await client.close()


@pytest_twisted.ensureDeferred
async def test_quota_from_the_configuration(moto: MotoServer, tmp_path: Path) -> None:
    cfg = on_moto(moto, tmp_path, new_bucket_name(), "s3.quota = 1MB\n")
    await commands.create_container(cfg)
    backend = create_backend(cfg)
    await backend.start()
    assert await backend.available_space() == 1_000_000
    await backend.stop()


@pytest_twisted.ensureDeferred
async def test_region_signs_and_places_the_bucket(moto: MotoServer, tmp_path: Path) -> None:
    cfg = on_moto(moto, tmp_path, new_bucket_name(), "s3.region = eu-west-1\n")
    s3 = parse_s3_config(cfg)
    client = make_client(s3)
    signed = client.signer.sign_with_hash("GET", s3.address.url("k"), {}, "UNSIGNED-PAYLOAD")
    assert "/eu-west-1/s3/aws4_request" in signed["Authorization"]
    assert "region eu-west-1" in await commands.create_container(cfg)
    answer = await client.call("GetBucketLocation", "GET", query={"location": ""})
    assert b"eu-west-1" in answer.body
    await client.close()


@pytest.mark.parametrize(
    ("url", "addressing", "expected"),
    [
        ("https://s3.amazonaws.com", "auto", "https://my-bucket.s3.amazonaws.com/k"),
        (
            "https://s3.eu-west-1.amazonaws.com",
            "auto",
            "https://my-bucket.s3.eu-west-1.amazonaws.com/k",
        ),
        ("https://s3.amazonaws.com", "path", "https://s3.amazonaws.com/my-bucket/k"),
        ("http://minio.example:9000", "auto", "http://minio.example:9000/my-bucket/k"),
        ("http://minio.example:9000", "virtual", "http://my-bucket.minio.example:9000/k"),
        ("http://127.0.0.1:9000", "auto", "http://127.0.0.1:9000/my-bucket/k"),
    ],
)
def test_addressing(tmp_path: Path, url: str, addressing: str, expected: str) -> None:
    cfg = node_config(tmp_path, url=url, extra=f"s3.addressing = {addressing}\n")
    assert parse_s3_config(cfg).address.url("k") == expected
