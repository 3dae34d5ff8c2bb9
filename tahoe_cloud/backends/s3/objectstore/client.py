"""The S3 client core: one place that signs, sends, checks and retries a request.

The verbs live beside it (``objects``, ``listing``, ``multipart``, and the
bucket operations here); each builds a request and calls ``S3Client.call``.
Every attempt is signed afresh right before it is sent, and every non-2xx
answer is turned into a typed ``S3Error`` before the retry layer looks at it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from tahoe_cloud.backends.s3.objectstore.addressing import BucketAddress
from tahoe_cloud.backends.s3.objectstore.conditions import STANDARD, ConditionalWrites
from tahoe_cloud.backends.s3.objectstore.errors import MALFORMED, S3Error, parse_error
from tahoe_cloud.backends.s3.objectstore.retry import Retrier, RetryPolicy
from tahoe_cloud.backends.s3.objectstore.signing import Signer
from tahoe_cloud.backends.s3.objectstore.transport import Body, FileSlice, HTTPResponse, Transport

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

T = TypeVar("T")


class S3Client:
    """A bucket on an S3 service, reachable through signed, retried requests."""

    def __init__(
        self,
        reactor: Any,
        address: BucketAddress,
        signer: Signer,
        *,
        transport: Transport | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.reactor = reactor
        self.address = address
        self.signer = signer
        self.transport = transport or Transport(reactor)
        self.retrier = Retrier(reactor, signer, retry_policy)
        self.request_counts: dict[str, int] = {}  # operation -> attempts sent
        # The form of conditional PUTs this service honours (set by the start-up probe).
        self.conditions: ConditionalWrites = STANDARD

    def __repr__(self) -> str:
        return f"<S3Client bucket={self.address.bucket!r} {self.address.endpoint.host}>"

    @property
    def bucket(self) -> str:
        return self.address.bucket

    async def call(
        self,
        operation: str,
        method: str,
        key: str = "",
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = b"",
        payload_hash: str | None = None,
        ok: tuple[int, ...] = (200,),
        retrier: Retrier | None = None,
        check: Callable[[HTTPResponse], Awaitable[None]] | None = None,
    ) -> HTTPResponse:
        """Send ``method`` on ``key`` (or the bucket) until it succeeds or fails for good."""
        return await self.call_parsed(
            operation,
            method,
            key,
            _identity,
            query=query,
            headers=headers,
            body=body,
            payload_hash=payload_hash,
            ok=ok,
            retrier=retrier,
            check=check,
        )

    async def call_parsed(
        self,
        operation: str,
        method: str,
        key: str,
        parse: Callable[[HTTPResponse], T],
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = b"",
        payload_hash: str | None = None,
        ok: tuple[int, ...] = (200,),
        retrier: Retrier | None = None,
        check: Callable[[HTTPResponse], Awaitable[None]] | None = None,
    ) -> T:
        """``call``, with the answer read by ``parse`` inside each attempt.

        A ``parse`` that raises ``S3Error`` (a malformed answer, or a 200
        carrying an ``<Error>`` document) fails the attempt, so the retry
        layer retries it when it is transient, like any other failure.
        ``check`` is the same for checks that must not block the reactor
        (hashing a large body): it raises ``S3Error`` for a damaged answer.

        Answers with a status in ``ok`` are returned; anything else raises
        ``S3Error`` (after retries for the transient ones). A ``FileSlice``
        body is streamed from its file on every attempt; its SHA-256 is
        ``payload_hash`` when the caller knows it, else computed from the
        file in pieces (off the reactor) when the signature needs it.
        """
        url = self.address.url(key, query)
        if isinstance(body, FileSlice):
            if payload_hash is None or not self.signer.needs_payload_hash(url):
                payload_hash = await self.signer.file_payload_hash(url, body)
        else:
            payload_hash = await self.signer.payload_hash(url, body)
        log_key = key or None

        async def attempt() -> T:
            signed = self.signer.sign_with_hash(method, url, headers or {}, payload_hash)
            self.request_counts[operation] = self.request_counts.get(operation, 0) + 1
            response = await self.transport.request(operation, method, url, signed, body)
            if response.status in ok:
                if check is not None:
                    await check(response)
                return parse(response)
            raise parse_error(
                operation,
                response.status,
                response.body,
                key=log_key,
                server_date=response.header("date"),
            )

        return await (retrier or self.retrier).run(attempt)

    # --- bucket operations ------------------------------------------------------

    async def head_bucket(self, *, retrier: Retrier | None = None) -> HTTPResponse:
        """Check the bucket exists and the credentials may use it (one HEAD)."""
        try:
            return await self.call("HeadBucket", "HEAD", retrier=retrier)
        except S3Error as e:
            if e.status == 404 and e.code in (None, "NotFound"):
                raise S3Error("HeadBucket", 404, "NoSuchBucket", "") from None
            if e.code is None and not e.transient:
                # HEAD answers carry no body: ask again with a GET to learn why.
                query = {"list-type": "2", "max-keys": "0"}
                await self.call("ListObjectsV2", "GET", query=query, retrier=retrier)
            raise

    async def create_bucket(self) -> bool:
        """Create the bucket in the signer's region; False when it already exists and is ours."""
        region = self.signer.region
        body = b""
        if region != "us-east-1":
            body = (
                '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{region}</LocationConstraint>"
                "</CreateBucketConfiguration>"
            ).encode()
        try:
            await self.call("CreateBucket", "PUT", body=body)
        except S3Error as e:
            if e.code == "BucketAlreadyOwnedByYou":
                return False
            raise
        return True

    async def close(self) -> None:
        await self.transport.close()


def _identity(response: HTTPResponse) -> HTTPResponse:
    return response


def parse_xml(body: bytes, operation: str = "S3 request", *, key: str | None = None) -> Any:
    """Parse an S3 XML answer safely (no entities, no external references).

    An answer that is not XML (a proxy's error page, a truncated body) is a
    transient ``S3Error`` with code ``MalformedResponse``, never a bare
    parser exception.
    """
    try:
        return ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as e:
        raise malformed(operation, f"the answer is not XML ({e.__class__.__name__})", key) from None


def xml_int(text: str | None, operation: str, *, key: str | None = None) -> int:
    """A non-negative integer field of an S3 XML answer (missing: 0)."""
    value = (text or "0").strip()
    if not value.isascii() or not value.isdigit():
        raise malformed(operation, "the answer holds a non-numeric size", key)
    return int(value)


def malformed(operation: str, why: str, key: str | None = None) -> S3Error:
    return S3Error(operation, 200, MALFORMED, why, key=key)
