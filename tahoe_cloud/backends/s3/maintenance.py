"""Keeping a bucket and prefix in order: the ownership marker, unfinished uploads, orphans, usage.

``S3Backend.start`` claims the marker, aborts multipart uploads a crash left
and, when asked, collects orphans and measures usage; ``tahoe-cloud clean``
runs the same clean-up from its own process while the node is stopped.
Every step here works on whole prefixes of the bucket (listings), never on
one storage index, and knows nothing of a running node's caches: what it
deletes is never in a listing (see docs/s3.md, "The listing cache").
"""

from __future__ import annotations

import datetime
import json
import socket
from collections.abc import Callable, Collection
from typing import Any

from twisted.logger import Logger

from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.listing import iso_timestamp, list_objects
from tahoe_cloud.backends.s3.objectstore.objects import delete_objects, get_object, put_object
from tahoe_cloud.backends.s3.records import decode_head
from tahoe_cloud.errors import BackendError

log = Logger()

# collect_orphans leaves younger objects alone: a write in progress may own them.
ORPHAN_MIN_AGE = 3600.0


class Maintenance:
    """The bucket-wide chores of one bucket and prefix."""

    def __init__(self, client: S3Client, keys: KeyLayout, clock: Callable[[], float]) -> None:
        self.client = client
        self.keys = keys
        self._clock = clock

    async def claim_marker(self, node_id: str, *, override: bool = False) -> None:
        """One server per bucket and prefix: write our marker, or refuse another node's."""
        key = self.keys.marker
        mine = {
            "node": node_id,
            "host": socket.gethostname(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        body = json.dumps(mine, indent=1).encode() + b"\n"
        try:
            found = await get_object(self.client, key)
        except S3Error as e:
            if not e.not_found:
                raise
            await put_object(
                self.client, key, body, if_none_match=True, content_type="application/json"
            )
            log.info("S3: claimed {bucket}/{key} for this node", bucket=self.client.bucket, key=key)
            return
        try:
            theirs: Any = json.loads(found.body)
            owner = str(theirs["node"])
        except (ValueError, KeyError, TypeError):
            theirs, owner = {}, "<unreadable marker>"
        if owner == node_id:
            return
        where = f"bucket {self.client.bucket!r}" + (
            f", prefix {self.keys.prefix!r}" if self.keys.prefix else ""
        )
        if not override:
            raise BackendError(
                f"{where} belongs to another storage server (node {owner!r} on host"
                f" {theirs.get('host', '?')!r}, marker object {key!r}). Two servers must not share"
                " a bucket and prefix: use another s3.prefix, or, if that server is gone for good,"
                " set [storage] s3.override_marker = true once to take the bucket over."
            )
        log.warn("S3: taking over {where} from node {owner}", where=where, owner=owner)
        await put_object(
            self.client, key, body, if_match=found.etag, content_type="application/json"
        )

    async def abort_orphan_uploads(self) -> int:
        """Abort multipart uploads a crash left behind (they hold storage but are invisible)."""
        pending = [u async for u in mp.list_multipart_uploads(self.client, self.keys.shares_root)]
        for upload in pending:
            await mp.abort_multipart_upload(self.client, upload.key, upload.upload_id)
        if pending:
            log.info("S3: aborted {n} unfinished multipart upload(s)", n=len(pending))
        return len(pending)

    async def abort_stale_uploads(
        self, *, min_age: float = ORPHAN_MIN_AGE, publishing: Collection[str] = ()
    ) -> int:
        """Abort unfinished multipart uploads no publish of this process is using.

        ``publishing``: the upload ids this process is completing. Those of a
        running node are left alone by their age: an upload begun less than
        ``min_age`` seconds ago may be in progress there (``clean`` runs in a
        process of its own). Returns how many were aborted.
        """
        cutoff = self._clock() - min_age
        stale = [
            u
            async for u in mp.list_multipart_uploads(self.client, self.keys.shares_root)
            if u.upload_id not in publishing and iso_timestamp(u.initiated) <= cutoff
        ]
        for upload in stale:
            await mp.abort_multipart_upload(self.client, upload.key, upload.upload_id)
        if stale:
            log.info("S3: aborted {n} unfinished multipart upload(s)", n=len(stale))
        return len(stale)

    async def measure_usage(self) -> int:
        """Bytes stored in shares and mutable chunks (one LIST per 1,000 objects)."""
        total = 0
        for root in (self.keys.shares_root, self.keys.chunks_root):
            async for obj in list_objects(self.client, root):
                total += obj.size
        return total

    async def collect_orphans(self, *, min_age: float = ORPHAN_MIN_AGE) -> int:
        """Delete what crashes can leave behind; return how many objects were deleted.

        That is: mutable chunks no head refers to (a crash mid-write), lease
        objects of storage indexes without shares (a crash mid-publish), and
        the keys of a start-up probe a crash interrupted.
        Objects younger than ``min_age`` seconds are left alone, as a write
        in progress may be about to refer to them. This lists the whole
        prefix (one LIST per 1,000 objects, plus one GET per mutable share
        with chunks): an occasional maintenance task, not a start-up step.
        """
        cutoff = self._clock() - min_age
        keys = self.keys
        with_shares = await self._storage_indexes_with_shares()
        garbage: list[str] = []
        # Keys of a conditional-write probe a crash interrupted.
        async for obj in list_objects(self.client, keys.probe_root):
            if obj.last_modified < cutoff:
                garbage.append(obj.key)
        async for obj in list_objects(self.client, keys.leases_root):
            owner = keys.lease_owner(obj.key)
            if owner is not None and owner not in with_shares and obj.last_modified < cutoff:
                garbage.append(obj.key)
        groups: dict[tuple[str, str, str], list[str]] = {}
        async for obj in list_objects(self.client, keys.chunks_root):
            group = keys.chunk_group(obj.key)
            if group is not None and obj.last_modified < cutoff:
                groups.setdefault(group, []).append(obj.key)
        for group, chunk_keys in groups.items():
            garbage.extend(await self._unreferenced(group, chunk_keys))
        await delete_objects(self.client, garbage)
        if garbage:
            log.info("S3: deleted {n} orphaned object(s)", n=len(garbage))
        return len(garbage)

    async def _storage_indexes_with_shares(self) -> set[str]:
        """Storage indexes (text) with a share, or with a share being published."""
        keys = self.keys
        found: set[str] = set()
        async for obj in list_objects(self.client, keys.shares_root):
            if (owner := keys.share_owner(obj.key)) is not None:
                found.add(owner)
        # A share being published (multipart) has its lease object already: keep it.
        async for upload in mp.list_multipart_uploads(self.client, keys.shares_root):
            if (owner := keys.share_owner(upload.key)) is not None:
                found.add(owner)
        return found

    async def _unreferenced(self, group: tuple[str, str, str], chunk_keys: list[str]) -> list[str]:
        """The chunks of one mutable share (``group``) that its head does not name."""
        keys = self.keys
        share = keys.share_of_group(group)
        if share is None:
            log.debug("S3: ignoring foreign chunk group {group}", group="/".join(group))
            return []
        si, shnum = share
        head_key = keys.mutable_head(si, shnum)
        referenced: set[str] = set()
        try:
            result = await get_object(self.client, head_key)
            head = decode_head(result.body, head_key)
            referenced = {
                keys.chunk(si, shnum, i, gen)
                for i, gen in enumerate(head.chunks)
                if gen is not None
            }
        except S3Error as e:
            if not e.not_found:
                raise
        return [k for k in chunk_keys if k not in referenced]
