"""S3 error responses turned into typed errors an operator can act on.

S3 answers errors with a small XML document (``<Error><Code>..``; no
namespace) or, for HEAD and some 304/412 answers, with no body at all. Each
answer becomes an ``S3Error`` (a ``BackendError``) carrying the HTTP status
and the S3 code. Its ``transient`` decides twice: whether the retry layer
retries it, and, once retries are spent, whether the front end answers 503
(transient) or 500. Messages quote the S3 code,
the operation and the key, never a credential or a signature, and the
service's own free-text message only for the configuration problems in
``MESSAGE_CODES``.
"""

from __future__ import annotations

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from tahoe_cloud.errors import BackendError

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, 429})
# Our code for a 2xx answer that cannot be read (not XML, a non-numeric size):
# a proxy's error page or a truncated body, worth a (bounded) retry.
MALFORMED = "MalformedResponse"
# Our code for a 2xx answer whose body is short or does not match the MD5
# stored with the object: damaged on the way, read again like a 503.
DAMAGED = "DamagedResponse"
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequests",
        "OperationAborted",
        MALFORMED,
        DAMAGED,
    }
)

# Codes that mean the configuration is wrong, with what the operator should check.
CONFIG_PROBLEMS = {
    "SignatureDoesNotMatch": (
        "the S3 service rejected the request signature: the secret in private/s3secret"
        " does not belong to s3.access_key_id (or s3.region is wrong)"
    ),
    "InvalidAccessKeyId": "the S3 service does not know the access key id in s3.access_key_id",
    "NoSuchBucket": (
        "the bucket named by s3.bucket does not exist (see 'tahoe-cloud create-container')"
    ),
    "AccessDenied": "the S3 credentials are not allowed to use this bucket",
    "InvalidToken": (
        "the S3 service rejected the security token (private/s3sessiontoken or DevPay tokens)"
    ),
    "ExpiredToken": "the S3 session token (private/s3sessiontoken) has expired",
    "AuthorizationHeaderMalformed": "the S3 service rejected the region: check s3.region",
    "PermanentRedirect": "the bucket is in another region or endpoint: check s3.region and s3.url",
    "InvalidLocationConstraint": (
        "the S3 service does not accept s3.region as the bucket's location: set it to a region"
        " the service serves (Ceph RGW: its zonegroup's name, 'default' unless configured), or"
        " to us-east-1 to name none"
    ),
    "RequestTimeTooSkewed": "this machine's clock is more than 15 minutes off the S3 service's",
}


# The service's free-text <Message> is kept only for these codes: the
# configuration problems the operator must read (the service often says what
# it expected, e.g. the right region). Other messages are dropped: some
# S3-compatible services echo request values (keys, headers) in them.
MESSAGE_CODES = frozenset(CONFIG_PROBLEMS)


class S3Error(BackendError):
    """An error answer from the S3 service (or a failure to reach it)."""

    def __init__(
        self,
        operation: str,
        status: int | None,
        code: str | None,
        message: str = "",
        *,
        key: str | None = None,
        server_date: str | None = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.code = code
        self.s3_message = message
        self.key = key
        self.server_date = server_date
        super().__init__(str(self))

    def __str__(self) -> str:
        what = f"S3 {self.operation}"
        if self.key is not None:
            what += f" of {self.key!r}"
        status = f"HTTP {self.status}" if self.status is not None else "no answer"
        code = f" {self.code}" if self.code else ""
        hint = CONFIG_PROBLEMS.get(self.code or "")
        message = self.s3_message  # the service's only for MESSAGE_CODES (see parse_error)
        if hint:
            detail = f": {hint}" + (f" (the service says: {message})" if message else "")
        else:
            detail = f": {message}" if message else ""  # our own text, e.g. "connection lost"
        return f"{what} failed ({status}{code}){detail}"

    @property
    def transient(self) -> bool:
        """Worth retrying: the service is busy or failed, not the request."""
        if self.status is None:  # connection error or timeout
            return True
        return self.status in TRANSIENT_STATUSES or self.code in TRANSIENT_CODES

    @property
    def is_config_problem(self) -> bool:
        return self.code in CONFIG_PROBLEMS

    @property
    def not_found(self) -> bool:
        return self.status == 404 and self.code in (None, "NoSuchKey", "NoSuchUpload", "NotFound")

    @property
    def precondition_failed(self) -> bool:
        return self.status == 412 or self.code in (
            "PreconditionFailed",
            "ConditionalRequestConflict",
        )


class ConditionRefused(S3Error):
    """The service refused a conditional PUT although its condition held.

    A 412 to ``If-Match`` with the object's current ETag (Ceph RGW 16 with the
    ETag quoted), or to a create-only PUT of a key that does not exist. Not a
    lost race: ``precondition_failed`` is False, so no caller blames
    "another writer" for it, and it is never retried.
    """

    def __init__(self, operation: str, status: int | None, why: str, *, key: str) -> None:
        super().__init__(
            operation,
            status,
            "PreconditionRefused",
            f"the service refused a conditional PUT whose condition held ({why}); it does"
            " not honour conditional writes as this server sends them: run"
            " 'tahoe-cloud check' on this node",
            key=key,
        )

    @property
    def precondition_failed(self) -> bool:
        return False


class S3ConnectionError(S3Error):
    """The service could not be reached, or did not answer in time."""

    def __init__(self, operation: str, reason: str, *, key: str | None = None) -> None:
        super().__init__(operation, None, None, reason, key=key)


def parse_error(
    operation: str,
    status: int,
    body: bytes,
    *,
    key: str | None = None,
    server_date: str | None = None,
) -> S3Error:
    """Build the ``S3Error`` for a non-2xx answer from its (maybe empty) XML body."""
    code: str | None = None
    message = ""
    if body:
        try:
            root = ElementTree.fromstring(body)
            code = (root.findtext("Code") or "").strip() or None
            message = (root.findtext("Message") or "").strip()
        except (ElementTree.ParseError, DefusedXmlException, ValueError):
            message = ""
    if code is None:
        code = {404: "NotFound", 412: "PreconditionFailed", 304: "NotModified"}.get(status)
    # The service's message is free text that may echo request values: kept
    # only for the allow-listed codes, short and on one line.
    message = " ".join(message.split())[:200] if code in MESSAGE_CODES else ""
    return S3Error(operation, status, code, message, key=key, server_date=server_date)
