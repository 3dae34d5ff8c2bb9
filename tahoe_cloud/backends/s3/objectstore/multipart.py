"""Multipart uploads: create, upload part, complete, abort, and list (for orphan clean-up).

A multipart upload is invisible until ``complete``; an aborted one leaves
nothing behind. Parts are 5 MiB..5 GiB (the last may be smaller), at most
10,000 per upload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from xml.sax.saxutils import escape

from attrs import frozen

from tahoe_cloud.backends.s3.objectstore.client import S3_NS, S3Client, parse_xml
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import MD5_META, md5_of
from tahoe_cloud.backends.s3.objectstore.transport import Body, FileSlice, HTTPResponse

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000


@frozen
class PendingUpload:
    key: str
    upload_id: str
    initiated: str


async def create_multipart_upload(client: S3Client, key: str, *, md5: str | None = None) -> str:
    """Start a multipart upload of ``key``; return its upload id.

    ``md5`` (base64, of the whole object) is stored as metadata, so that
    whole-object reads can be checked (a multipart ETag is no MD5).
    """
    headers = {"Content-Type": "application/octet-stream"}
    if md5 is not None:
        headers[MD5_META] = md5

    def parse(response: HTTPResponse) -> str:
        root = parse_xml(response.body, "CreateMultipartUpload", key=key)
        upload_id: str | None = root.findtext(f"{S3_NS}UploadId")
        if not upload_id:
            raise S3Error("CreateMultipartUpload", response.status, None, "no UploadId", key=key)
        return upload_id

    return await client.call_parsed(
        "CreateMultipartUpload", "POST", key, parse, query={"uploads": ""}, headers=headers
    )


async def upload_part(
    client: S3Client,
    key: str,
    upload_id: str,
    part_number: int,
    body: Body,
    *,
    md5: str | None = None,
    sha256: str | None = None,
) -> str:
    """Upload part ``part_number`` (1-based) with its Content-MD5; return its ETag.

    A ``FileSlice`` body is streamed from its file and needs ``md5``.
    """
    if md5 is None:
        if isinstance(body, FileSlice):
            raise ValueError("a part streamed from a file needs its MD5")
        md5 = await md5_of(body)
    response = await client.call(
        "UploadPart",
        "PUT",
        key,
        query={"partNumber": str(part_number), "uploadId": upload_id},
        headers={"Content-MD5": md5},
        body=body,
        payload_hash=sha256,
    )
    return response.header("etag") or ""


async def complete_multipart_upload(
    client: S3Client, key: str, upload_id: str, etags: Sequence[str]
) -> str:
    """Assemble the parts (``etags[i]`` is part i+1); the object appears at once, whole."""
    body = (
        "<CompleteMultipartUpload>"
        + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
            for n, etag in enumerate(etags, start=1)
        )
        + "</CompleteMultipartUpload>"
    ).encode("utf-8")

    def parse(response: HTTPResponse) -> str:
        # S3 may answer 200 with an <Error> document when completion fails
        # late; checked inside the attempt so a transient one (InternalError)
        # is retried like any other.
        root = parse_xml(response.body, "CompleteMultipartUpload", key=key)
        if root.tag in ("Error", f"{S3_NS}Error"):
            code = root.findtext("Code") or root.findtext(f"{S3_NS}Code")
            raise S3Error("CompleteMultipartUpload", 200, code, "completion failed", key=key)
        return root.findtext(f"{S3_NS}ETag") or ""

    return await client.call_parsed(
        "CompleteMultipartUpload",
        "POST",
        key,
        parse,
        query={"uploadId": upload_id},
        headers={"Content-Type": "application/xml"},
        body=body,
    )


async def abort_multipart_upload(client: S3Client, key: str, upload_id: str) -> None:
    """Abort an upload and free its parts; an upload already gone is not an error."""
    try:
        await client.call(
            "AbortMultipartUpload", "DELETE", key, query={"uploadId": upload_id}, ok=(200, 204)
        )
    except S3Error as e:
        if e.status != 404:
            raise


async def list_multipart_uploads(client: S3Client, prefix: str) -> AsyncIterator[PendingUpload]:
    """Every unfinished multipart upload under ``prefix`` (paginated)."""
    key_marker: str | None = None
    id_marker: str | None = None
    while True:
        query = {"uploads": "", "prefix": prefix}
        if key_marker is not None:
            query["key-marker"] = key_marker
            if id_marker:
                query["upload-id-marker"] = id_marker
        root = await client.call_parsed(
            "ListMultipartUploads", "GET", "", _parse_listing, query=query
        )
        for item in root.iter(f"{S3_NS}Upload"):
            yield PendingUpload(
                item.findtext(f"{S3_NS}Key") or "",
                item.findtext(f"{S3_NS}UploadId") or "",
                item.findtext(f"{S3_NS}Initiated") or "",
            )
        truncated = (root.findtext(f"{S3_NS}IsTruncated") or "false").lower() == "true"
        key_marker = root.findtext(f"{S3_NS}NextKeyMarker")
        id_marker = root.findtext(f"{S3_NS}NextUploadIdMarker")
        if not truncated or not key_marker:
            return


def _parse_listing(response: HTTPResponse) -> Any:
    return parse_xml(response.body, "ListMultipartUploads")
