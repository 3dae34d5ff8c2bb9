"""cloud.s3 configuration, the start-up check, check and create-container (moto, auth mode)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TypedDict

import pytest
import pytest_twisted

from tahoe_cloud.backends.s3 import commands
from tahoe_cloud.backends.s3.admin import check_service
from tahoe_cloud.backends.s3.config import create_backend, make_client, parse_s3_config
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.errors import ConfigError
from tests.s3.conftest import new_bucket_name
from tests.s3.moto import MotoServer, free_port

pytestmark = pytest.mark.s3


def node_config(
    tmp_path: Path,
    *,
    url: str = "http://127.0.0.1:9",
    bucket: str = "my-bucket",
    key_id: str = "AKIAEXAMPLE",
    secret: str | None = "s3cr3t",
    extra: str = "",
    private: dict[str, str] | None = None,
) -> NodeConfig:
    (tmp_path / "private").mkdir(parents=True, exist_ok=True)
    if secret is not None:
        (tmp_path / "private" / "s3secret").write_text(secret + "\n")
    for name, value in (private or {}).items():
        (tmp_path / "private" / name).write_text(value)
    text = (
        "[storage]\nenabled = true\nbackend = cloud.s3\n"
        f"s3.access_key_id = {key_id}\ns3.bucket = {bucket}\ns3.url = {url}\n{extra}"
    )
    return NodeConfig.from_string(tmp_path, text)


def test_parse_defaults_and_options(tmp_path: Path) -> None:
    cfg = node_config(
        tmp_path,
        extra="s3.prefix = srv1\ns3.quota = 1GiB\ns3.region = eu-west-1\ns3.read_ahead = 0\n",
    )
    s3 = parse_s3_config(cfg)
    assert s3.read_ahead == 0
    assert parse_s3_config(node_config(tmp_path / "d")).read_ahead == 4 * 1024**2
    assert s3.keys.prefix == "srv1/"
    assert s3.quota == 1024**3
    assert s3.region == "eu-west-1"
    assert s3.address.style == "path"
    assert s3.credentials.security_token is None
    assert "s3cr3t" not in repr(s3) and "s3cr3t" not in repr(s3.credentials)
    assert cfg.unknown_keys("storage") == []
    aws = parse_s3_config(node_config(tmp_path / "aws", url="https://s3.amazonaws.com"))
    assert aws.address.style == "virtual"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("s3.addressing = sideways\n", "s3.addressing"),
        ("s3.quota = lots\n", "s3.quota"),
        ("s3.prefix = /abs\n", "s3.prefix"),
        ("s3.max_requests = 0\n", "s3.max_requests"),
        ("s3.read_ahead = 65MiB\n", "s3.read_ahead"),
        ("s3.read_ahead = some\n", "s3.read_ahead"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_s3_config(node_config(tmp_path, extra=extra))
    assert e.value.key == key and e.value.section == "storage"
    assert e.value.path.endswith("tahoe.cfg")


def test_required_keys_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        parse_s3_config(node_config(tmp_path, bucket=""))
    assert e.value.key == "s3.bucket"
    with pytest.raises(ConfigError) as e:
        parse_s3_config(node_config(tmp_path / "u", url="ftp://x"))
    assert e.value.key == "s3.url"
    with pytest.raises(ConfigError) as e:
        parse_s3_config(node_config(tmp_path / "n", secret=None))
    assert e.value.path.endswith("private/s3secret")


def test_tokens(tmp_path: Path) -> None:
    s3 = parse_s3_config(
        node_config(tmp_path / "a", private={"s3usertoken": "U\n", "s3producttoken": "P"})
    )
    assert s3.credentials.security_token == "U,P"
    s3 = parse_s3_config(node_config(tmp_path / "b", private={"s3usertoken": "U"}))
    assert s3.credentials.security_token == "U"
    s3 = parse_s3_config(node_config(tmp_path / "c", private={"s3sessiontoken": "S"}))
    assert s3.credentials.security_token == "S"
    with pytest.raises(ConfigError) as e:
        parse_s3_config(node_config(tmp_path / "d", private={"s3producttoken": "P"}))
    assert e.value.path.endswith("private/s3producttoken")
    with pytest.raises(ConfigError) as e:
        parse_s3_config(
            node_config(tmp_path / "e", private={"s3sessiontoken": "S", "s3usertoken": "U"})
        )
    assert e.value.path.endswith("private/s3sessiontoken")


class _Account(TypedDict):
    """Where and as whom ``node_config`` reaches S3."""

    url: str
    key_id: str
    secret: str


@pytest_twisted.ensureDeferred
async def test_startup_errors_are_clear(moto_auth: MotoServer, tmp_path: Path) -> None:
    good = _Account(
        url=moto_auth.url, key_id=moto_auth.access_key_id, secret=moto_auth.secret_access_key
    )
    bucket = new_bucket_name()
    # create-container, twice.
    cfg = node_config(tmp_path / "c", bucket=bucket, **good)
    assert "Created bucket" in await commands.create_container(cfg)
    assert "already exists" in await commands.create_container(cfg)
    assert "OK:" in await commands.check(cfg)

    cases: list[tuple[_Account, str, str | None]] = [
        ({**good, "secret": "wrong-secret"}, "private/s3secret", None),
        ({**good, "key_id": "AKIAUNKNOWN000000000"}, "tahoe.cfg", "s3.access_key_id"),
        ({**good}, "tahoe.cfg", "s3.bucket"),  # bucket below does not exist
        ({**good, "url": f"http://127.0.0.1:{free_port()}"}, "tahoe.cfg", "s3.url"),
    ]
    for i, (kw, path_end, key) in enumerate(cases):
        name = bucket if i != 2 else new_bucket_name()
        backend = create_backend(node_config(tmp_path / str(i), bucket=name, **kw))
        t0 = time.monotonic()
        with pytest.raises(ConfigError) as e:
            await backend.start()
        assert time.monotonic() - t0 < 15  # fails fast
        assert e.value.path.endswith(path_end) and e.value.key == key, str(e.value)
        assert "wrong-secret" not in str(e.value)
        await backend.stop()


@pytest_twisted.ensureDeferred
async def test_clock_skew_fails_the_startup_check(moto: MotoServer, tmp_path: Path) -> None:
    s3 = parse_s3_config(node_config(tmp_path, url=moto.url, bucket=new_bucket_name()))
    client = make_client(s3)
    await client.create_bucket()
    assert abs((await check_service(client, time.time)).skew or 0) < 60
    with pytest.raises(S3Error) as e:
        await check_service(client, lambda: time.time() + 3600)
    assert e.value.code == "RequestTimeTooSkewed" and "clock" in str(e.value)
    await client.close()


def test_render_and_write_secret(tmp_path: Path) -> None:
    from tahoe_cloud.backends.s3.config import render_storage_lines, write_secret

    lines = render_storage_lines(
        bucket="b-1",
        access_key_id="AK",
        url="http://127.0.0.1:9000",
        region="eu-west-1",
        prefix="x",
    )
    path = write_secret(tmp_path, "  s3cr3t\n")
    assert path.stat().st_mode & 0o777 == 0o600
    cfg = NodeConfig.from_string(tmp_path, "[storage]\nbackend = cloud.s3\n" + lines)
    s3 = parse_s3_config(cfg)
    assert s3.credentials.secret_access_key == "s3cr3t" and s3.keys.prefix == "x/"
    assert s3.address.url("k") == "http://127.0.0.1:9000/b-1/k"
    with pytest.raises(ValueError, match="--s3-bucket"):
        render_storage_lines(bucket="", access_key_id="AK")
    with pytest.raises(ValueError, match="--s3-url"):
        render_storage_lines(bucket="bkt", access_key_id="AK", url="ftp://x")


@pytest_twisted.ensureDeferred
async def test_clean_command(moto: MotoServer, tmp_path: Path) -> None:
    cfg = node_config(tmp_path, url=moto.url, bucket=new_bucket_name(), extra="s3.prefix = x\n")
    await commands.create_container(cfg)
    bucket = parse_s3_config(cfg).address.bucket
    expected = f"Deleted 0 orphaned object(s) from bucket '{bucket}' (prefix 'x/')."
    assert await commands.clean(cfg) == expected


def test_unsigned_payload_default_applies_over_https_only(tmp_path: Path) -> None:
    """Over TLS the body is not hashed for the signature by default; over http it always is."""
    https = parse_s3_config(node_config(tmp_path / "a", url="https://s3.example.net"))
    assert https.unsigned_payload is True
    signer = make_client(https).signer
    assert not signer.needs_payload_hash("https://s3.example.net/my-bucket/key")
    assert signer.needs_payload_hash("http://s3.example.net/my-bucket/key")
    off = node_config(
        tmp_path / "b", url="https://s3.example.net", extra="s3.unsigned_payload = no\n"
    )
    assert parse_s3_config(off).unsigned_payload is False
