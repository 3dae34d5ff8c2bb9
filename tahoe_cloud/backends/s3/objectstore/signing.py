"""SigV4 request signing, with botocore doing the cryptography and nothing else.

botocore is used only to compute signatures: no botocore client, no botocore
I/O. This module adds what a long-running server needs around it:

- a clock offset, corrected when S3 answers ``RequestTimeTooSkewed``, so a
  server whose clock drifted keeps working (the retry layer sets it);
- the body hash computed off the reactor thread for large bodies, or
  ``UNSIGNED-PAYLOAD`` over TLS when configured (the body is still protected
  by TLS and by the Content-MD5 every PUT carries);
- a session token (STS) or DevPay tokens sent as the signed
  ``x-amz-security-token`` header.

Credentials never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from attrs import field, frozen
from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from twisted.internet.threads import deferToThread

from tahoe_cloud.backends.s3.objectstore.transport import FileSlice

# Bodies at least this large are hashed in a worker thread: hashing costs
# about a millisecond per MiB, which the reactor should not spend.
THREAD_HASH_THRESHOLD = 64 * 1024
# Bodies streamed from a file are hashed in pieces of this size.
HASH_PIECE = 1024 * 1024

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Headers Twisted computes itself; sending botocore's copy too would
# duplicate them (one S3-compatible server answered 400 to that).
_TRANSPORT_HEADERS = frozenset({"content-length", "host"})


@frozen(repr=False)
class Credentials:
    """An access key pair and an optional security token (STS session or DevPay)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = ", with token" if self.security_token else ""
        return f"Credentials(access_key_id={self.access_key_id!r}{token})"


def devpay_token(user_token: str, product_token: str | None) -> str:
    """The DevPay ``x-amz-security-token``: ``user,product``, or the user token alone."""
    return f"{user_token},{product_token}" if product_token else user_token


class _Auth(S3SigV4Auth):  # type: ignore[misc]
    """botocore's S3 SigV4 signer with our clock and a precomputed payload hash."""

    def __init__(self, creds: BotoCredentials, region: str, now: datetime.datetime, payload: str):
        super().__init__(creds, "s3", region)
        self._now = now
        self._payload = payload

    def payload(self, request: Any) -> str:
        return self._payload

    def add_auth(self, request: Any) -> None:
        # botocore reads the wall clock itself; we sign with the corrected time instead.
        request.context["timestamp"] = self._now.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


def _sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _sha256_of_slice(body: FileSlice) -> str:
    digest = hashlib.sha256()
    pos = 0
    while piece := body.read_at(pos, HASH_PIECE):
        digest.update(piece)
        pos += len(piece)
    return digest.hexdigest()


class Signer:
    """Signs S3 requests for one set of credentials and one region."""

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        *,
        clock: Callable[[], float] = time.time,
        unsigned_payload: bool = False,
        thread_hash_threshold: int = THREAD_HASH_THRESHOLD,
    ) -> None:
        self._credentials = credentials
        self._boto = BotoCredentials(
            credentials.access_key_id, credentials.secret_access_key, credentials.security_token
        )
        self.region = region
        self._clock = clock
        self._unsigned_payload = unsigned_payload
        self._thread_hash_threshold = thread_hash_threshold
        # Seconds to add to the local clock to get the service's time.
        self.clock_offset = 0.0

    def __repr__(self) -> str:
        return f"<Signer {self._credentials!r} region={self.region!r}>"

    @property
    def access_key_id(self) -> str:
        return self._credentials.access_key_id

    def now(self) -> datetime.datetime:
        """The time to sign with: the local clock corrected by the known offset."""
        return datetime.datetime.fromtimestamp(self._clock() + self.clock_offset, datetime.UTC)

    def needs_payload_hash(self, url: str) -> bool:
        """Whether a request to ``url`` must carry its body's SHA-256 (not ``UNSIGNED-PAYLOAD``)."""
        return not (self._unsigned_payload and url.startswith("https://"))

    async def payload_hash(self, url: str, body: bytes) -> str:
        """The ``X-Amz-Content-SHA256`` value for ``body``; large bodies hashed in a thread."""
        if not body:
            return EMPTY_SHA256
        if not self.needs_payload_hash(url):
            return UNSIGNED_PAYLOAD
        if len(body) >= self._thread_hash_threshold:
            digest = await deferToThread(_sha256_hex, body)
            return str(digest)
        return _sha256_hex(body)

    async def file_payload_hash(self, url: str, body: FileSlice) -> str:
        """The ``X-Amz-Content-SHA256`` value for a body streamed from a file.

        Read in pieces in a worker thread, so neither memory nor the reactor
        pays for the body's size; not read at all for ``UNSIGNED-PAYLOAD``.
        """
        if not body.length:
            return EMPTY_SHA256
        if not self.needs_payload_hash(url):
            return UNSIGNED_PAYLOAD
        return str(await deferToThread(_sha256_of_slice, body))

    def sign_with_hash(
        self, method: str, url: str, headers: Mapping[str, str], payload_hash: str
    ) -> dict[str, str]:
        """Return the headers to send (signed), minus the ones the HTTP client adds itself.

        Sign right before sending: the signature carries the time and S3
        rejects one more than 15 minutes old.
        """
        request = AWSRequest(method=method, url=url, data=b"", headers=dict(headers))
        request.headers["X-Amz-Content-SHA256"] = payload_hash
        _Auth(self._boto, self.region, self.now(), payload_hash).add_auth(request)
        return {
            str(k): str(v)
            for k, v in request.headers.items()
            if k.lower() not in _TRANSPORT_HEADERS
        }

    async def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """Hash ``body`` (off the reactor if large) and sign; see ``sign_with_hash``."""
        return self.sign_with_hash(method, url, headers, await self.payload_hash(url, body))
