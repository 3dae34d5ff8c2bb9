"""Signature checking on (moto auth mode): wrong secret, unknown key, tokens, STS."""

from __future__ import annotations

import boto3  # type: ignore[import-untyped]
import pytest
import pytest_twisted

from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import get_object, put_object
from tahoe_cloud.backends.s3.objectstore.signing import devpay_token
from tests.s3.conftest import make_client, new_bucket_name
from tests.s3.moto import MotoServer

pytestmark = pytest.mark.s3


@pytest_twisted.ensureDeferred
async def test_good_credentials(moto_auth: MotoServer) -> None:
    c = make_client(moto_auth, new_bucket_name())
    await c.create_bucket()
    await put_object(c, "x/y", b"data")
    assert (await get_object(c, "x/y", offset=1, size=2)).body == b"at"
    await c.close()


@pytest_twisted.ensureDeferred
async def test_wrong_secret(moto_auth: MotoServer) -> None:
    c = make_client(moto_auth, new_bucket_name(), secret="not-the-secret")
    with pytest.raises(S3Error) as e:
        await c.head_bucket()
    assert e.value.code == "SignatureDoesNotMatch"
    assert "private/s3secret" in str(e.value)
    assert "not-the-secret" not in str(e.value) and "not-the-secret" not in repr(c.signer)
    assert not e.value.transient
    assert sum(c.request_counts.values()) == 2  # HEAD, then one GET to learn why; no retries
    await c.close()


@pytest_twisted.ensureDeferred
async def test_unknown_key(moto_auth: MotoServer) -> None:
    c = make_client(moto_auth, new_bucket_name(), key_id="AKIANOTAKEY000000000")
    with pytest.raises(S3Error) as e:
        await c.head_bucket()
    assert e.value.code == "InvalidAccessKeyId"
    assert "s3.access_key_id" in str(e.value)
    await c.close()


@pytest_twisted.ensureDeferred
async def test_bogus_token(moto_auth: MotoServer) -> None:
    c = make_client(moto_auth, new_bucket_name(), token=devpay_token("user", "product"))
    with pytest.raises(S3Error) as e:
        await c.head_bucket()
    assert e.value.code == "InvalidToken"
    await c.close()


@pytest_twisted.ensureDeferred
async def test_sts_session_credentials(moto_auth: MotoServer) -> None:
    kw = {
        "endpoint_url": moto_auth.url,
        "region_name": "us-east-1",
        "aws_access_key_id": moto_auth.access_key_id,
        "aws_secret_access_key": moto_auth.secret_access_key,
    }
    # moto answers 500 to an assumed role that does not exist: make a real one.
    iam = boto3.client("iam", **kw)
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}'
    )
    role = iam.create_role(RoleName="tahoe-sts", AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(
        RoleName="tahoe-sts",
        PolicyName="all",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    )
    sts = boto3.client("sts", **kw)
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="tahoe")["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    c = make_client(
        moto_auth,
        new_bucket_name(),
        key_id=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )
    await c.create_bucket()
    await put_object(c, "k", b"v")
    assert (await get_object(c, "k")).body == b"v"
    await c.close()
