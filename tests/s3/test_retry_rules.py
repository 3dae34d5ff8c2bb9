"""Which S3 failures are retried and which never; bounded backoff; a fresh signature per attempt.

The rules live in ``S3Error.transient`` and ``Retrier``; these tests drive
them through ``S3Client.call`` with a scripted transport and a fake clock, and
the timeout case through the real transport against a server that never answers.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IAddress
from twisted.internet.task import Clock

from tahoe_cloud.backends.s3.objectstore.addressing import BucketAddress, Endpoint
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import S3ConnectionError, S3Error
from tahoe_cloud.backends.s3.objectstore.retry import RetryPolicy
from tahoe_cloud.backends.s3.objectstore.signing import Credentials, Signer
from tahoe_cloud.backends.s3.objectstore.transport import HTTPResponse, Transport

pytestmark = pytest.mark.s3

RETRIED = [
    (500, "InternalError"),
    (502, None),
    (503, "SlowDown"),
    (503, "ServiceUnavailable"),
    (504, None),
    (429, None),
    (400, "RequestTimeout"),
    (None, None),  # connection error or timeout
]
NEVER_RETRIED = [
    (403, "SignatureDoesNotMatch"),
    (403, "InvalidAccessKeyId"),
    (403, "AccessDenied"),
    (400, "AuthorizationHeaderMalformed"),
    (404, "NoSuchBucket"),
    (404, "NoSuchKey"),
    (400, "InvalidArgument"),
    (400, "BadDigest"),
    (412, "PreconditionFailed"),
    (416, "InvalidRange"),
]


def error_body(code: str | None) -> bytes:
    return f"<Error><Code>{code}</Code><Message>m</Message></Error>".encode() if code else b""


class ScriptedTransport:
    """Answers from a script; records the signed headers of every attempt."""

    def __init__(self, clock: Clock, answers: list[int | None], code: str | None) -> None:
        self.clock = clock
        self.answers = answers
        self.code = code
        self.sent: list[dict[str, str]] = []

    async def request(
        self, operation: str, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> HTTPResponse:
        self.sent.append(dict(headers))
        status = self.answers.pop(0) if self.answers else 200
        if status is None:
            raise S3ConnectionError(operation, "connection refused")
        if status == 200:
            return HTTPResponse(200, {}, b"")
        return HTTPResponse(
            status, {"date": "Sat, 21 Nov 2026 00:00:00 GMT"}, error_body(self.code)
        )

    async def close(self) -> None:
        pass


def client_with(clock: Clock, transport: ScriptedTransport, policy: RetryPolicy) -> S3Client:
    signer = Signer(Credentials("AKIDEXAMPLE", "SECRET"), "us-east-1", clock=clock.seconds)
    address = BucketAddress.create(Endpoint.parse("http://127.0.0.1:9"), "bkt", "path")
    client = S3Client(clock, address, signer, transport=transport, retry_policy=policy)  # type: ignore[arg-type]
    client.retrier._rng = random.Random(7)  # reproducible jitter
    return client


def drive(clock: Clock, coro: Any) -> tuple[object, float]:
    """Run ``coro`` on the fake clock; its outcome and the fake time it took."""
    start = clock.seconds()
    outcome: list[object] = []
    defer.Deferred.fromCoroutine(coro).addBoth(outcome.append)
    while not outcome:
        clock.advance(0.01)
        assert clock.seconds() - start < 1000, "never finished"
    return outcome[0], clock.seconds() - start


@pytest.mark.parametrize(("status", "code"), RETRIED)
def test_transient_failures_are_retried_and_resigned(status: int | None, code: str | None) -> None:
    clock = Clock()
    clock.advance(1_700_000_000)
    policy = RetryPolicy(max_attempts=4, max_total_time=60, base_delay=1.0, max_delay=5.0)
    transport = ScriptedTransport(clock, [status, status, status], code)
    result, _ = drive(clock, client_with(clock, transport, policy).call("PutObject", "PUT", "k"))
    assert isinstance(result, HTTPResponse) and result.status == 200
    assert len(transport.sent) == 4
    # Each attempt was signed afresh, at the time it was sent.
    dates = [h["X-Amz-Date"] for h in transport.sent]
    signatures = [h["Authorization"] for h in transport.sent]
    assert len(set(signatures)) == len(set(dates)) and len(set(dates)) > 1, dates


@pytest.mark.parametrize(("status", "code"), NEVER_RETRIED)
def test_other_failures_are_never_retried(status: int, code: str) -> None:
    clock = Clock()
    policy = RetryPolicy(max_attempts=6)
    transport = ScriptedTransport(clock, [status] * 6, code)
    result, _ = drive(clock, client_with(clock, transport, policy).call("GetObject", "GET", "k"))
    assert len(transport.sent) == 1
    error = getattr(result, "value", result)
    assert isinstance(error, S3Error) and error.code == code and not error.transient


def test_attempts_and_total_time_are_bounded() -> None:
    clock = Clock()
    policy = RetryPolicy(max_attempts=5, max_total_time=100, base_delay=0.5, max_delay=4.0)
    transport = ScriptedTransport(clock, [503] * 50, "SlowDown")
    result, _ = drive(clock, client_with(clock, transport, policy).call("GetObject", "GET", "k"))
    assert len(transport.sent) == 5 and isinstance(getattr(result, "value", None), S3Error)

    policy = RetryPolicy(max_attempts=1000, max_total_time=20, base_delay=1.0, max_delay=8.0)
    transport = ScriptedTransport(clock, [500] * 10_000, None)
    result, took = drive(clock, client_with(clock, transport, policy).call("GetObject", "GET", "k"))
    assert isinstance(getattr(result, "value", None), S3Error)
    assert took <= 20.5 and 3 < len(transport.sent) < 1000


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=10.0)
    rng = random.Random(1)
    for attempt in range(12):
        cap = min(10.0, 0.1 * 2**attempt)
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap / 2  # spread over the whole range, not fixed


class Silent(protocol.Protocol):
    """Accepts the connection, reads the request, never answers."""


class SilentFactory(protocol.ServerFactory):
    """Builds a ``Silent`` protocol for each connection, remembering its peer."""

    def __init__(self) -> None:
        self.connections: list[IAddress | None] = []

    def buildProtocol(self, addr: IAddress | None) -> Silent:
        self.connections.append(addr)
        return Silent()


@pytest_twisted.ensureDeferred
async def test_a_request_that_gets_no_answer_times_out_and_is_retried() -> None:
    port = reactor.listenTCP(0, SilentFactory(), interface="127.0.0.1")
    try:
        host = port.getHost()
        assert isinstance(host, IPv4Address)
        url = f"http://127.0.0.1:{host.port}"
        signer = Signer(Credentials("AK", "SK"), "us-east-1")
        address = BucketAddress.create(Endpoint.parse(url), "bkt", "path")
        policy = RetryPolicy(max_attempts=2, max_total_time=10, base_delay=0.01, max_delay=0.02)
        client = S3Client(
            reactor,
            address,
            signer,
            transport=Transport(reactor, timeout=0.3),
            retry_policy=policy,
        )
        with pytest.raises(S3ConnectionError) as e:
            await client.call("GetObject", "GET", "k")
        assert "no answer within 0.3 s" in str(e.value) and e.value.transient
        assert client.request_counts == {"GetObject": 2}
        await client.close()
    finally:
        stopped = port.stopListening()
        if stopped is not None:
            await stopped
