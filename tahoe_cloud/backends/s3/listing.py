"""ListObjectsV2, paginated with continuation tokens (at most 1,000 keys per answer)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

from attrs import frozen

from tahoe_cloud.backends.s3.client import S3_NS, S3Client, parse_xml


def _timestamp(text: str | None) -> float:
    """ListObjectsV2's ISO 8601 LastModified ("2026-11-21T19:40:00.000Z") as POSIX time."""
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
        response = await client.call("ListObjectsV2", "GET", query=query)
        root = parse_xml(response.body)
        for item in root.iter(f"{S3_NS}Contents"):
            yield ListedObject(
                item.findtext(f"{S3_NS}Key") or "",
                int(item.findtext(f"{S3_NS}Size") or 0),
                item.findtext(f"{S3_NS}ETag") or "",
                _timestamp(item.findtext(f"{S3_NS}LastModified")),
            )
        truncated = (root.findtext(f"{S3_NS}IsTruncated") or "false").lower() == "true"
        token = root.findtext(f"{S3_NS}NextContinuationToken")
        if not truncated or not token:
            return


async def list_all(client: S3Client, prefix: str, *, page_size: int = 1000) -> list[ListedObject]:
    """``list_objects`` collected into a list."""
    return [obj async for obj in list_objects(client, prefix, page_size=page_size)]
