"""ListObjectsV2, paginated with continuation tokens (at most 1,000 keys per answer)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

from attrs import frozen

from tahoe_cloud.backends.s3.objectstore.client import S3_NS, S3Client, parse_xml, xml_int
from tahoe_cloud.backends.s3.objectstore.transport import HTTPResponse


def iso_timestamp(text: str | None) -> float:
    """An S3 ISO 8601 time ("2026-11-21T19:40:00.000Z": LastModified, Initiated) as POSIX time."""
    if not text:
        return 0.0
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@frozen
class ListedObject:
    key: str
    size: int
    etag: str
    last_modified: float  # POSIX time; 0.0 if the service did not say


async def list_objects(
    client: S3Client, prefix: str, *, page_size: int = 1000, start_after: str | None = None
) -> AsyncIterator[ListedObject]:
    """Every object whose key starts with ``prefix``, in key order, one page per request."""
    token: str | None = None
    while True:
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(page_size)}
        if token is not None:
            query["continuation-token"] = token
        elif start_after is not None:
            query["start-after"] = start_after
        page = await client.call_parsed("ListObjectsV2", "GET", "", _parse_page, query=query)
        for obj in page.objects:
            yield obj
        if not page.truncated or not page.token:
            return
        token = page.token


@frozen
class _Page:
    objects: list[ListedObject]
    truncated: bool
    token: str | None


def _parse_page(response: HTTPResponse) -> _Page:
    """One ListObjectsV2 answer, read inside the attempt (a garbled one is retried)."""
    root = parse_xml(response.body, "ListObjectsV2")
    objects = [
        ListedObject(
            item.findtext(f"{S3_NS}Key") or "",
            xml_int(item.findtext(f"{S3_NS}Size"), "ListObjectsV2"),
            item.findtext(f"{S3_NS}ETag") or "",
            iso_timestamp(item.findtext(f"{S3_NS}LastModified")),
        )
        for item in root.iter(f"{S3_NS}Contents")
    ]
    truncated = (root.findtext(f"{S3_NS}IsTruncated") or "false").lower() == "true"
    return _Page(objects, truncated, root.findtext(f"{S3_NS}NextContinuationToken"))


async def list_all(client: S3Client, prefix: str, *, page_size: int = 1000) -> list[ListedObject]:
    """``list_objects`` collected into a list."""
    return [obj async for obj in list_objects(client, prefix, page_size=page_size)]
