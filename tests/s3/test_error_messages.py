"""The service's free-text <Message> reaches logs and errors only for configuration problems.

Some S3-compatible services echo request values in it; the operator needs it
only for the problems they must fix (wrong secret, region, bucket, clock).
"""

from __future__ import annotations

import pytest

from tahoe_cloud.backends.s3.objectstore.errors import (
    MESSAGE_CODES,
    S3ConnectionError,
    S3Error,
    parse_error,
)
from tahoe_cloud.http.errors import answer_for


def _body(code: str, message: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


@pytest.mark.parametrize("code", ["NoSuchKey", "InvalidArgument", "InternalError", "SlowDown"])
def test_other_codes_keep_only_code_and_status(code: str) -> None:
    e = parse_error("PutObject", 400, _body(code, "echoed x-amz-meta-secret: hunter2"), key="k")
    assert "hunter2" not in str(e) and "hunter2" not in repr(e) and e.s3_message == ""
    assert code in str(e) and "HTTP 400" in str(e) and "'k'" in str(e)


@pytest.mark.parametrize(
    "code",
    [
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "NoSuchBucket",
        "AccessDenied",
        "RequestTimeTooSkewed",
        "AuthorizationHeaderMalformed",
    ],
)
def test_configuration_problems_keep_the_message(code: str) -> None:
    assert code in MESSAGE_CODES
    e = parse_error("HeadBucket", 403, _body(code, "expecting  region\n'eu-west-1'"))
    assert "the service says: expecting region 'eu-west-1'" in str(e)


def test_our_own_text_is_kept() -> None:
    assert "connection lost" in str(S3ConnectionError("GetObject", "connection lost"))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (parse_error("PutObject", 503, _body("SlowDown", "")), 503),
        (parse_error("GetObject", 500, b""), 503),
        (S3ConnectionError("GetObject", "connection lost"), 503),
        (parse_error("PutObject", 403, _body("AccessDenied", "")), 500),
        (parse_error("PutObject", 400, _body("BadDigest", "")), 500),
    ],
)
def test_the_front_end_answers_from_transient(error: S3Error, status: int) -> None:
    """Retries spent, the same ``transient`` that decided retrying decides 503 or 500."""
    answer = answer_for(error)
    assert answer.code == status and error.transient == (status == 503)
    assert answer.backend_fault and not answer.unexpected
    assert "S3" not in answer.reason  # the client gets a generic phrase, not the key or bucket
