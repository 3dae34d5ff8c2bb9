"""Object verbs: PUT (always with Content-MD5, maybe conditional), ranged GET, HEAD, DELETE(s)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

from attrs import frozen

from tahoe_cloud.backends.s3.client import S3_NS, S3Client, parse_xml
from tahoe_cloud.backends.s3.errors import S3Error

# DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000


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
    compare-and-swap that a second writer cannot silently clobber.
    """
    headers = {"Content-MD5": md5 or content_md5(body), "Content-Type": content_type}
    if if_match is not None:
        headers["If-Match"] = if_match
    if if_none_match:
        headers["If-None-Match"] = "*"
    try:
        response = await client.call("PutObject", "PUT", key, headers=headers, body=body)
    except S3Error as e:
        if not (e.precondition_failed and (if_match is not None or if_none_match)):
            raise
        # A retried conditional PUT whose first attempt did land (its answer was
        # lost) fails its own precondition: if the object holds exactly our
        # bytes, the PUT succeeded.
        try:
            current = await get_object(client, key)
        except S3Error:
            raise e from None
        if current.body != body:
            raise
        return current.etag
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
    return int(total) if total.isdigit() else None


async def get_object(
    client: S3Client, key: str, *, offset: int = 0, size: int | None = None
) -> GetResult:
    """Read a whole object, or ``size`` bytes from ``offset`` with one ranged GET.

    A range starting past the end is not an error: the result is empty
    (S3 answers 416 there).
    """
    headers: dict[str, str] = {}
    if size is not None:
        if size <= 0:
            raise ValueError("size must be positive")
        headers["Range"] = f"bytes={offset}-{offset + size - 1}"
    elif offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = await client.call("GetObject", "GET", key, headers=headers, ok=(200, 206))
    except S3Error as e:
        if e.status == 416:
            return GetResult(b"", "", None)
        raise
    etag = response.header("etag") or ""
    if response.status == 206:
        total = _total_from_content_range(response.header("content-range"))
    else:
        total = len(response.body)
        if headers:
            # The service ignored the range (allowed by HTTP): cut it ourselves.
            end = None if size is None else offset + size
            return GetResult(response.body[offset:end], etag, total)
    return GetResult(response.body, etag, total)


async def head_object(client: S3Client, key: str) -> ObjectInfo | None:
    """Size and ETag of ``key``, or None when it does not exist."""
    try:
        response = await client.call("HeadObject", "HEAD", key)
    except S3Error as e:
        if e.status == 404:
            return None
        raise
    return ObjectInfo(response.header("etag") or "", int(response.header("content-length") or 0))


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
        response = await client.call(
            "DeleteObjects",
            "POST",
            query={"delete": ""},
            headers={"Content-MD5": content_md5(body), "Content-Type": "application/xml"},
            body=body,
        )
        root = parse_xml(response.body)
        for err in root.iter(f"{S3_NS}Error"):
            code = err.findtext(f"{S3_NS}Code") or err.findtext("Code")
            key = err.findtext(f"{S3_NS}Key") or err.findtext("Key")
            raise S3Error("DeleteObjects", 200, code, "a key could not be deleted", key=key)
