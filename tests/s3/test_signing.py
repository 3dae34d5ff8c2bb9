"""Unit tests of signing, retries and error parsing (no server needed)."""

from __future__ import annotations

import random
from collections.abc import Coroutine
from datetime import UTC, datetime
from email.utils import formatdate
from types import SimpleNamespace
from typing import Any

import botocore.auth
import pytest
import pytest_twisted
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3.objectstore.addressing import (
    BucketAddress,
    Endpoint,
    encode_query,
    quote_key,
)
from tahoe_cloud.backends.s3.objectstore.errors import S3Error, parse_error
from tahoe_cloud.backends.s3.objectstore.retry import Retrier, RetryPolicy, skew_from_date
from tahoe_cloud.backends.s3.objectstore.signing import Credentials, Signer, devpay_token


def _freeze_botocore_clock(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    """Make botocore's SigV4 signers take ``now`` (UTC) as the current time.

    Where botocore reads the time depends on its version, so the patch point is
    found at run time: recent releases (1.44 here) call ``get_current_datetime()``
    (from ``botocore.compat``) in ``botocore.auth``; older ones, 1.34 (the declared
    floor) among them, call ``datetime.datetime.utcnow()`` on its own ``datetime``
    import.
    """
    naive = now.astimezone(UTC).replace(tzinfo=None)
    if hasattr(botocore.auth, "get_current_datetime"):

        def current(remove_tzinfo: bool = True) -> datetime:
            return naive if remove_tzinfo else naive.replace(tzinfo=UTC)

        monkeypatch.setattr(botocore.auth, "get_current_datetime", current)
    else:

        class Frozen(datetime):
            @classmethod
            def utcnow(cls) -> Frozen:
                return cls.combine(naive.date(), naive.time())

        monkeypatch.setattr(botocore.auth, "datetime", SimpleNamespace(datetime=Frozen))


def test_signature_matches_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our signer (fixed clock) gives botocore's own signature for the same request."""
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    now = 1_700_000_000.0
    signer = Signer(creds, "us-east-1", clock=lambda: now)
    url = "http://127.0.0.1:9000/bucket/some%20key"
    headers = signer.sign_with_hash("GET", url, {"Range": "bytes=0-9"}, "e3b0" + "0" * 60)
    assert headers["X-Amz-Date"] == "20231114T221320Z"
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/s3/aws4_request"
    )
    assert "host" not in {k.lower() for k in headers}
    assert "wJalrXUtnFEMI" not in repr(signer) and "wJalrXUtnFEMI" not in repr(creds)
    # Same request through botocore directly, with its clock patched to ours.
    _freeze_botocore_clock(monkeypatch, signer.now())
    req = AWSRequest(method="GET", url=url, headers={"Range": "bytes=0-9"})
    req.headers["X-Amz-Content-SHA256"] = "e3b0" + "0" * 60
    auth = S3SigV4Auth(
        BotoCredentials(creds.access_key_id, creds.secret_access_key), "s3", "us-east-1"
    )
    auth.payload = lambda request: "e3b0" + "0" * 60
    auth.add_auth(req)
    assert req.headers["X-Amz-Date"] == headers["X-Amz-Date"]
    assert req.headers["Authorization"] == headers["Authorization"]


def test_clock_offset_and_token_header() -> None:
    creds = Credentials("AK", "SK", devpay_token("usertok", "prodtok"))
    signer = Signer(creds, "eu-west-1", clock=lambda: 1_700_000_000.0)
    signer.clock_offset = 3600
    headers = signer.sign_with_hash("PUT", "https://b.s3.amazonaws.com/k", {}, "UNSIGNED-PAYLOAD")
    assert headers["X-Amz-Date"] == "20231114T231320Z"
    assert headers["X-Amz-Security-Token"] == "usertok,prodtok"
    assert "x-amz-security-token" in headers["Authorization"]  # signed
    assert devpay_token("u", None) == "u"


@pytest_twisted.ensureDeferred
async def test_payload_hash_large_and_unsigned() -> None:
    import hashlib

    signer = Signer(
        Credentials("AK", "SK"), "us-east-1", unsigned_payload=True, thread_hash_threshold=10
    )
    body = b"x" * 100
    assert await signer.payload_hash("http://h/b/k", body) == hashlib.sha256(body).hexdigest()
    assert await signer.payload_hash("https://h/b/k", body) == "UNSIGNED-PAYLOAD"


def test_addressing() -> None:
    aws = Endpoint.parse("https://s3.amazonaws.com")
    assert BucketAddress.create(aws, "mybucket", "auto").url("a b/c") == (
        "https://mybucket.s3.amazonaws.com/a%20b/c"
    )
    assert BucketAddress.create(aws, "my.bucket", "auto").style == "path"
    local = Endpoint.parse("http://127.0.0.1:9000/base/")
    addr = BucketAddress.create(local, "bkt", "auto")
    assert addr.url("k~1", {"uploads": "", "b": "x y"}) == (
        "http://127.0.0.1:9000/base/bkt/k~1?b=x%20y&uploads="
    )
    assert quote_key("shares/aa/x+y") == "shares/aa/x%2By"
    assert encode_query({}) == ""
    with pytest.raises(ValueError):
        Endpoint.parse("ftp://x")
    with pytest.raises(ValueError):
        BucketAddress.create(local, "x", "path")


def test_parse_error() -> None:
    e = parse_error("GetObject", 503, b"<Error><Code>SlowDown</Code><Message>x</Message></Error>")
    assert e.transient and e.code == "SlowDown"
    e = parse_error("HeadObject", 404, b"")
    assert e.not_found and not e.transient
    e = parse_error("PutObject", 400, b"<not xml")
    assert e.code is None and not e.transient
    e = parse_error("PutObject", 400, b"<Error><Code>RequestTimeout</Code></Error>")
    assert e.transient


def _run(clock: Clock, coro: Coroutine[Any, Any, object]) -> object:
    from twisted.internet import defer

    d: defer.Deferred[object] = defer.Deferred.fromCoroutine(coro)
    results: list[object] = []
    d.addBoth(results.append)
    for _ in range(100):
        if results:
            break
        clock.advance(1)
    return results[0]


def test_retry_transient_then_success() -> None:
    clock = Clock()
    signer = Signer(Credentials("AK", "SK"), "us-east-1")
    retrier = Retrier(clock, signer, RetryPolicy(max_attempts=5), rng=random.Random(1))
    calls = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise S3Error("PutObject", 503, "SlowDown")
        return "ok"

    assert _run(clock, retrier.run(attempt)) == "ok"
    assert len(calls) == 3


def test_retry_bounded_and_not_for_4xx() -> None:
    clock = Clock()
    signer = Signer(Credentials("AK", "SK"), "us-east-1")
    retrier = Retrier(clock, signer, RetryPolicy(max_attempts=3), rng=random.Random(1))
    calls: list[int] = []

    async def busy() -> None:
        calls.append(1)
        raise S3Error("PutObject", 500, "InternalError")

    result = _run(clock, retrier.run(busy))
    assert len(calls) == 3 and "InternalError" in str(result)
    calls.clear()

    async def denied() -> None:
        calls.append(1)
        raise S3Error("PutObject", 403, "AccessDenied")

    _run(clock, retrier.run(denied))
    assert len(calls) == 1
    calls.clear()

    async def bug() -> None:
        calls.append(1)
        raise ZeroDivisionError

    _run(clock, retrier.run(bug))
    assert len(calls) == 1


def test_skew_corrected_once() -> None:
    clock = Clock()
    clock.advance(1_700_000_000)
    signer = Signer(Credentials("AK", "SK"), "us-east-1", clock=clock.seconds)
    retrier = Retrier(clock, signer, rng=random.Random(1))
    server_time = 1_700_000_000 + 3600
    seen: list[float] = []

    async def attempt() -> str:
        seen.append(signer.now().timestamp())
        if abs(signer.now().timestamp() - server_time) > 900:
            raise S3Error(
                "GetObject",
                403,
                "RequestTimeTooSkewed",
                server_date=formatdate(server_time, usegmt=True),
            )
        return "ok"

    assert _run(clock, retrier.run(attempt)) == "ok"
    assert len(seen) == 2 and signer.clock_offset == pytest.approx(3600, abs=2)
    assert skew_from_date("garbage", 0) is None
