"""Object verbs: PUT (always with Content-MD5, maybe conditional), ranged GET, HEAD, DELETE(s)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from attrs import frozen
from twisted.internet.threads import deferToThread

from tahoe_cloud.backends.s3.objectstore.client import S3_NS, S3Client, parse_xml, xml_int
from tahoe_cloud.backends.s3.objectstore.conditions import same_etag
from tahoe_cloud.backends.s3.objectstore.errors import DAMAGED, ConditionRefused, S3Error
from tahoe_cloud.backends.s3.objectstore.transport import FileSlice, HTTPResponse

# DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000
# User metadata holding the MD5 of what was PUT, so a whole-object read can be
# checked whatever the service's ETag means (SSE-KMS and multipart ETags are no MD5).
MD5_META = "x-amz-meta-content-md5"
# Hash bodies at least this large in a worker thread: MD5 runs at ~0.5-1 GB/s,
# so 64 KiB keeps the reactor's share under ~0.1 ms per body.
THREAD_HASH_THRESHOLD = 64 * 1024


def content_md5(body: bytes) -> str:
    """The Content-MD5 header: S3 refuses a body damaged in transit when it is present."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


@frozen
class ObjectInfo:
    """What a PUT or HEAD says about an object."""

    etag: str
    size: int


async def put_object(
    client: S3Client,
    key: str,
    body: bytes,
    *,
    if_match: str | None = None,
    if_none_match: bool = False,
    content_type: str = "application/octet-stream",
    md5: str | None = None,
) -> str:
    """Store ``body`` at ``key``; return the new ETag.

    ``if_none_match`` creates only (412 if the key exists); ``if_match``
    replaces only the version with that ETag (412 otherwise): a
    compare-and-swap that a second writer cannot silently clobber. The
    conditions are sent in the form the start-up probe found the service
    honours (``client.conditions``), or not at all on a service without them.

    A failed condition raises ``S3Error`` with ``precondition_failed`` only
    when the object really is not what was expected (a lost race, or the
    object is gone); a 412 although the condition held raises
    ``ConditionRefused`` instead.
    """
    md5 = md5 or await md5_of(body)
    headers = {"Content-MD5": md5, "Content-Type": content_type, MD5_META: md5}
    conditions = client.conditions
    conditional = conditions.enabled and (if_match is not None or if_none_match)
    if conditions.enabled and if_match is not None:
        headers["If-Match"] = conditions.if_match(if_match)
    if conditions.enabled and if_none_match:
        headers["If-None-Match"] = "*"
    try:
        response = await client.call("PutObject", "PUT", key, headers=headers, body=body)
    except S3Error as e:
        gone = if_match is not None and e.not_found  # AWS: 404 to If-Match on a missing key
        if not (conditional and (e.precondition_failed or gone)):
            raise
        return await _after_refusal(client, key, body, e, if_match)
    return response.header("etag") or ""


async def _after_refusal(
    client: S3Client, key: str, body: bytes, error: S3Error, if_match: str | None
) -> str:
    """Read the object after a refused conditional PUT, and say what the refusal was.

    A retried PUT whose first attempt did land (its answer was lost) fails
    its own precondition: if the object holds exactly our bytes, the PUT
    succeeded. Otherwise the ETag read back tells a lost race (the object
    changed, or is gone) from a service refusing a condition that held.
    """
    lost = S3Error("PutObject", error.status, "PreconditionFailed", key=key)
    try:
        current = await get_object(client, key)
    except S3Error as e:
        if not e.not_found:
            raise  # what happened is unknown: no race is claimed
        if if_match is not None:
            raise lost from None  # deleted under us
        raise ConditionRefused(
            "PutObject", error.status, "a create-only PUT of a key that does not exist", key=key
        ) from None
    if current.body == body:
        return current.etag
    if if_match is not None and same_etag(current.etag, if_match):
        raise ConditionRefused(
            "PutObject", error.status, "If-Match with the object's current ETag", key=key
        ) from None
    raise lost from None


async def put_file_slice(
    client: S3Client,
    key: str,
    body: FileSlice,
    *,
    md5: str,
    sha256: str | None = None,
    content_type: str = "application/octet-stream",
) -> str:
    """Store a body streamed from a file at ``key`` (unconditionally); return the new ETag.

    ``md5`` (base64) is the body's Content-MD5, computed by the caller as the
    bytes were spooled; ``sha256`` (hex) its payload hash if known. Memory
    stays bounded whatever the size: the bytes go from the file to the socket.
    """
    headers = {"Content-MD5": md5, "Content-Type": content_type, MD5_META: md5}
    response = await client.call(
        "PutObject", "PUT", key, headers=headers, body=body, payload_hash=sha256
    )
    return response.header("etag") or ""


@frozen
class GetResult:
    body: bytes
    etag: str
    total_size: int | None


def _total_from_content_range(value: str | None) -> int | None:
    # "bytes 0-99/1234" -> 1234
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isascii() and total.isdigit() else None


async def md5_of(body: bytes) -> str:
    """``content_md5``, computed in a worker thread for bodies over the threshold."""
    if len(body) >= THREAD_HASH_THRESHOLD:
        return str(await deferToThread(content_md5, body))
    return content_md5(body)


def _content_range(value: str | None) -> tuple[int, int, int | None] | None:
    # "bytes 0-99/1234" -> (0, 99, 1234); "bytes 0-99/*" -> (0, 99, None)
    if not value or not value.startswith("bytes ") or "/" not in value:
        return None
    span, total = value[6:].split("/", 1)
    first, _, last = span.partition("-")
    numbers = (first.strip(), last.strip())
    if not all(n.isascii() and n.isdigit() for n in numbers):
        return None
    total = total.strip()
    return int(numbers[0]), int(numbers[1]), int(total) if total.isdigit() else None


def _damaged(key: str, why: str) -> S3Error:
    return S3Error("GetObject", 200, DAMAGED, why, key=key)


async def get_object(
    client: S3Client, key: str, *, offset: int = 0, size: int | None = None
) -> GetResult:
    """Read a whole object, or ``size`` bytes from ``offset`` with one ranged GET.

    A range starting past the end is not an error: the result is empty
    (S3 answers 416 there). The answer is checked before it is used: a 206
    must hold exactly the bytes its Content-Range names, and when it holds
    the whole object, its bytes must match the MD5 stored at PUT time. A body
    cut short or damaged on the way is a transient fault (``DAMAGED``), read
    again under the retry policy like a 503; a part of an object has no MD5
    to check it against (the client's own hashes check share data).
    """
    headers: dict[str, str] = {}
    if size is not None:
        if size <= 0:
            raise ValueError("size must be positive")
        headers["Range"] = f"bytes={offset}-{offset + size - 1}"
    elif offset:
        headers["Range"] = f"bytes={offset}-"

    async def check(response: HTTPResponse) -> None:
        body = response.body
        whole = response.status == 200
        if response.status == 206:
            span = _content_range(response.header("content-range"))
            if span is None or span[0] != offset or span[1] - span[0] + 1 != len(body):
                raise _damaged(key, "the body does not match its Content-Range")
            whole = span[2] == len(body) and offset == 0
        stored_md5 = response.header(MD5_META)
        if whole and stored_md5 and await md5_of(body) != stored_md5:
            raise _damaged(key, "the bytes read do not match the MD5 stored with them")

    try:
        response = await client.call(
            "GetObject", "GET", key, headers=headers, ok=(200, 206), check=check
        )
    except S3Error as e:
        if e.status == 416:
            return GetResult(b"", "", None)
        raise
    etag = response.header("etag") or ""
    body = response.body
    if response.status == 206:
        total = _total_from_content_range(response.header("content-range"))
    else:
        total = len(body)
        if headers:
            # The service ignored the range (allowed by HTTP): cut it ourselves.
            end = None if size is None else offset + size
            body = body[offset:end]
    return GetResult(body, etag, total)


async def head_object(client: S3Client, key: str) -> ObjectInfo | None:
    """Size and ETag of ``key``, or None when it does not exist."""
    try:
        response = await client.call("HeadObject", "HEAD", key)
    except S3Error as e:
        if e.status == 404:
            return None
        raise
    size = xml_int(response.header("content-length"), "HeadObject", key=key)
    return ObjectInfo(response.header("etag") or "", size)


async def delete_object(client: S3Client, key: str) -> None:
    """Delete ``key``; deleting a missing key is not an error (S3 answers 204 either way)."""
    await client.call("DeleteObject", "DELETE", key, ok=(200, 204))


async def delete_objects(client: S3Client, keys: Sequence[str]) -> None:
    """Delete many keys, 1,000 per request; raise if the service could not delete one."""
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        if len(batch) == 1:
            await delete_object(client, batch[0])
            continue
        body = (
            '<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>'
            + "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in batch)
            + "</Delete>"
        ).encode("utf-8")
        root = await client.call_parsed(
            "DeleteObjects",
            "POST",
            "",
            _parse_delete_answer,
            query={"delete": ""},
            headers={"Content-MD5": await md5_of(body), "Content-Type": "application/xml"},
            body=body,
        )
        for err in root.iter(f"{S3_NS}Error"):
            code = err.findtext(f"{S3_NS}Code") or err.findtext("Code")
            key = err.findtext(f"{S3_NS}Key") or err.findtext("Key")
            raise S3Error("DeleteObjects", 200, code, "a key could not be deleted", key=key)


def _parse_delete_answer(response: HTTPResponse) -> Any:
    return parse_xml(response.body, "DeleteObjects")
