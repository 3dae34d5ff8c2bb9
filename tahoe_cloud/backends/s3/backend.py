"""``S3Backend``: the ``IStorageBackend`` keeping shares in an S3 bucket.

Start-up does, in order: the service check (URL, credentials, bucket,
clock), the conditional-write probe (``probe``: which ``If-Match`` form the
service honours; a service that ignores conditions is refused unless
``s3.conditional_writes = optional``), the ownership marker (one server
per bucket and prefix), a fresh local spool directory for uploads, and
aborting multipart uploads a crash left behind. When ``s3.quota`` is set
it also measures the bytes stored (one LIST per 1,000 objects, at start
only) and keeps the count up to date from its own writes.

Small bounded caches save requests on hot paths: the share listing of each
storage index (``sharecache.ShareCache``: positive and negative entries, with
the sizes of immutable shares; kept exact by this server's own writes, as it
is the only writer of its bucket and prefix) and the head of recently used
mutable shares (their ETag guards every write, so a stale head can never
clobber a share: the conditional PUT fails instead).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.s3 import multipart as mp
from tahoe_cloud.backends.s3 import spool
from tahoe_cloud.backends.s3.aborts import DEFAULT_DELAYS, PendingAborts
from tahoe_cloud.backends.s3.admin import StartupCheck, check_service
from tahoe_cloud.backends.s3.client import S3Client
from tahoe_cloud.backends.s3.errors import S3Error, to_backend_error
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.listing import iso_timestamp, list_objects
from tahoe_cloud.backends.s3.objects import delete_objects, get_object, put_object
from tahoe_cloud.backends.s3.probe import ConditionalWritesUnsupported, ProbeReport, choose, probe
from tahoe_cloud.backends.s3.readahead import DEFAULT_WINDOW, ReadAhead
from tahoe_cloud.backends.s3.records import MutableHead, decode_head
from tahoe_cloud.backends.s3.sharecache import LISTING_ENTRIES, MUTABLE, ShareCache
from tahoe_cloud.backends.s3.shareset import S3ShareSet
from tahoe_cloud.errors import BackendError, ConfigError, InvalidRequest
from tahoe_cloud.vocabulary import MAX_MUTABLE_SHARE_SIZE, ShareKind, StorageIndex

log = Logger()

K = TypeVar("K")
V = TypeVar("V")

# Reported as available space when no s3.quota is set: 1 PiB. S3 itself has no
# limit; this is large enough never to refuse a share, and an honest-looking number.
UNLIMITED_SPACE = 2**50

DEFAULT_INLINE_LIMIT = 128 * 1024
DEFAULT_CHUNK_SIZE = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 32 * 1024 * 1024
DEFAULT_PART_SIZE = 16 * 1024 * 1024
DEFAULT_PARALLEL_PARTS = 4
# Share bodies (single PUTs and parts) being sent at once, across all uploads,
# however many clients publish together. Each is streamed from its spool file
# (a few hundred KiB in memory), so this bounds sockets and S3 load, not memory.
DEFAULT_PUBLISH_BUFFERS = 8
# Mutable heads kept (each holds up to ``inline_limit`` bytes of share data).
CACHE_ENTRIES = 10_000
# collect_orphans leaves younger objects alone: a write in progress may own them.
ORPHAN_MIN_AGE = 3600.0


class _LRU(OrderedDict[K, V]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def put(self, key: K, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self._limit:
            self.popitem(last=False)

    def fetch(self, key: K) -> V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


@implementer(IStorageBackend)
class S3Backend:
    name = "cloud.s3"

    def __init__(
        self,
        client: S3Client,
        *,
        spool_dir: Path,
        node_id: str,
        keys: KeyLayout | None = None,
        quota: int | None = None,
        override_marker: bool = False,
        clean_at_start: bool = False,
        config_error: Callable[[BackendError], ConfigError | None] | None = None,
        require_conditional_writes: bool = True,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_parts: int = DEFAULT_PARALLEL_PARTS,
        publish_buffers: int = DEFAULT_PUBLISH_BUFFERS,
        maximum_mutable_share_size: int = MAX_MUTABLE_SHARE_SIZE,
        clock: Callable[[], float] = time.time,
        listing_cache_entries: int = LISTING_ENTRIES,
        read_ahead: int = DEFAULT_WINDOW,
        abort_retry_delays: Sequence[float] = DEFAULT_DELAYS,
    ) -> None:
        """``read_ahead``: bytes a missed immutable read fetches (0: just what is read);
        ``abort_retry_delays``: seconds before each retry of a failed multipart abort;
        ``require_conditional_writes``: refuse to start on a service whose
        conditional PUTs the probe found broken (else run without them).
        """
        self.client = client
        self.keys = keys or KeyLayout()
        self.spool_dir = spool_dir
        self.node_id = node_id
        self.quota = quota
        self.override_marker = override_marker
        self.clean_at_start = clean_at_start
        self._config_error = config_error
        self.require_conditional_writes = require_conditional_writes
        self.probe_report: ProbeReport | None = None
        self.inline_limit = inline_limit
        self.chunk_size = chunk_size
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.parallel_parts = parallel_parts
        self.upload_slots = defer.DeferredSemaphore(publish_buffers)
        self.maximum_mutable_share_size = maximum_mutable_share_size
        self._clock = clock
        # The shares of each storage index, as this server knows them (see sharecache).
        self.shares = ShareCache(listing_cache_entries)
        # Windows of immutable shares read lately (see readahead).
        self.read_ahead = ReadAhead(read_ahead)
        self._heads: _LRU[tuple[StorageIndex, int], tuple[str, MutableHead]] = _LRU(CACHE_ENTRIES)
        self.used: int | None = None
        # Bytes spooled for uploads not yet published: not in ``used`` (which
        # grows at publish), yet already received, so the core's space
        # accountant expects them gone from ``available_space`` (as on disk).
        self.spooled = 0
        self.startup: StartupCheck | None = None
        # Multipart uploads being published now (their ids): never orphans.
        self.publishing: set[str] = set()
        self.aborts = PendingAborts(client, abort_retry_delays)

    def __repr__(self) -> str:
        return f"<S3Backend {self.client!r} prefix={self.keys.prefix!r}>"

    # --- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        try:
            self.startup = await check_service(self.client, self._clock)
            await self.probe_conditional_writes()
            await self._claim_marker()
            self._reset_spool()
            await self.abort_orphan_uploads()
            if self.clean_at_start:
                # Nothing else writes this prefix yet (the marker is ours): no age margin needed.
                await self.collect_orphans(min_age=0)
            if self.quota is not None:
                self.used = await self.measure_usage()
        except (S3Error, ConditionalWritesUnsupported) as e:
            if self._config_error is not None and (mapped := self._config_error(e)) is not None:
                raise mapped from None
            if isinstance(e, S3Error):
                raise to_backend_error(e) from None
            raise

    async def probe_conditional_writes(self) -> ProbeReport:
        """Find the conditional-write form the service honours, and use it from now on."""
        report = await probe(self.client, self.keys)
        self.probe_report = report
        self.client.conditions = choose(
            report, required=self.require_conditional_writes, where=self.client.address.url()
        )
        return report

    async def stop(self) -> None:
        await self.aborts.stop()
        await self.client.close()

    def _reset_spool(self) -> None:
        """Uploads do not survive a restart (as upstream's incoming/): start with an empty spool."""
        try:
            if self.spool_dir.exists():
                shutil.rmtree(self.spool_dir)
            self.spool_dir.mkdir(parents=True, mode=0o700)
        except OSError as e:
            raise BackendError(
                f"cannot prepare the upload spool {self.spool_dir}: {e.strerror}"
            ) from None

    async def _claim_marker(self) -> None:
        """One server per bucket and prefix: write our marker, or refuse another node's."""
        key = self.keys.marker
        mine = {
            "node": self.node_id,
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
        if owner == self.node_id:
            return
        where = f"bucket {self.client.bucket!r}" + (
            f", prefix {self.keys.prefix!r}" if self.keys.prefix else ""
        )
        if not self.override_marker:
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

    async def abort_stale_uploads(self, *, min_age: float = ORPHAN_MIN_AGE) -> int:
        """Abort unfinished multipart uploads no publish of this process is using.

        Those of a running node are left alone by their age: an upload begun
        less than ``min_age`` seconds ago may be in progress there (``clean``
        runs in a process of its own). Returns how many were aborted.
        """
        cutoff = self._clock() - min_age
        stale = [
            u
            async for u in mp.list_multipart_uploads(self.client, self.keys.shares_root)
            if u.upload_id not in self.publishing and iso_timestamp(u.initiated) <= cutoff
        ]
        for upload in stale:
            await mp.abort_multipart_upload(self.client, upload.key, upload.upload_id)
        if stale:
            log.info("S3: aborted {n} unfinished multipart upload(s)", n=len(stale))
        return len(stale)

    async def measure_usage(self) -> int:
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
        with_shares: set[str] = set()
        async for obj in list_objects(self.client, keys.shares_root):
            parts = obj.key[len(keys.shares_root) :].split("/")
            if len(parts) == 3:
                with_shares.add(parts[1])
        # A share being published (multipart) has its lease object already: keep it.
        async for upload in mp.list_multipart_uploads(self.client, keys.shares_root):
            parts = upload.key[len(keys.shares_root) :].split("/")
            if len(parts) == 3:
                with_shares.add(parts[1])
        garbage: list[str] = []
        # Keys of a conditional-write probe a crash interrupted.
        async for obj in list_objects(self.client, keys.probe_root):
            if obj.last_modified < cutoff:
                garbage.append(obj.key)
        leases_root = f"{keys.prefix}leases/"
        async for obj in list_objects(self.client, leases_root):
            parts = obj.key[len(leases_root) :].split("/")
            if len(parts) == 2 and parts[1] not in with_shares and obj.last_modified < cutoff:
                garbage.append(obj.key)
        groups: dict[str, list[str]] = {}
        async for obj in list_objects(self.client, keys.chunks_root):
            parts = obj.key[len(keys.chunks_root) :].split("/")
            if len(parts) == 4 and obj.last_modified < cutoff:
                groups.setdefault("/".join(parts[:3]), []).append(obj.key)
        for group, chunk_keys in groups.items():
            _pp, si_text, shnum = group.split("/")
            try:
                si = StorageIndex.from_text(si_text)
                head_key = keys.mutable_head(si, int(shnum))
            except (ValueError, InvalidRequest):
                log.debug("S3: ignoring foreign chunk group {group}", group=group)
                continue
            referenced: set[str] = set()
            try:
                result = await get_object(self.client, head_key)
                head = decode_head(result.body, head_key)
                referenced = {
                    keys.chunk(si, int(shnum), i, gen)
                    for i, gen in enumerate(head.chunks)
                    if gen is not None
                }
            except S3Error as e:
                if not e.not_found:
                    raise
            garbage.extend(k for k in chunk_keys if k not in referenced)
        await delete_objects(self.client, garbage)
        if garbage:
            log.info("S3: deleted {n} orphaned object(s)", n=len(garbage))
        return len(garbage)

    def log_orphans(self, count: int) -> None:
        log.warn("S3: could not delete {n} superseded chunk(s); collect_orphans will", n=count)

    # --- IStorageBackend --------------------------------------------------------

    @asynccontextmanager
    async def shareset(self, storage_index: StorageIndex) -> AsyncIterator[S3ShareSet]:
        # Not closed on exit yet: S3ImmutableUpload publishes through the share
        # set of its allocate (set_leases_of, note_published), after that block
        # has ended. Once the upload opens a share set of its own at publish,
        # this can close the share set as the disk backend's does.
        yield S3ShareSet(self, storage_index)

    async def available_space(self) -> int:
        """The quota's room, bounded by the spool's free space.

        Every upload passes through the spool before it reaches S3, so an
        allocation the spool cannot hold would fail mid-upload: the core
        refuses it instead (it subtracts what uploads in progress are still
        owed from this figure; the bytes they already received are on disk).
        """
        room = UNLIMITED_SPACE if self.quota is None else self.quota - (self.used or 0)
        # statvfs on the reactor thread, as the disk backend does: it reads
        # file-system counters, no data.
        return max(0, min(room - self.spooled, spool.free_space(self.spool_dir)))

    async def add_corruption_advisory(
        self, kind: ShareKind, storage_index: StorageIndex, share_number: int, reason: bytes
    ) -> None:
        now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        when = now.strftime("%Y-%m-%dT%H%M%S.%fZ")
        key = self.keys.advisory(when, storage_index, share_number)
        text = (
            (
                "report: Share Corruption\n"
                f"type: {kind.value}\nstorage_index: {storage_index.text}\n"
                f"share_number: {share_number}\n\n"
            ).encode()
            + reason
            + b"\n"
        )
        try:
            await put_object(self.client, key, text, content_type="text/plain; charset=utf-8")
        except S3Error as e:
            raise to_backend_error(e) from None
        log.info(
            "corruption advisory for {kind} share {si}:{n} stored as {key}",
            kind=kind.value,
            si=storage_index.text,
            n=share_number,
            key=key,
        )

    # --- caches and accounting (used by shares and sharesets) ----------------------

    def _account(self, delta: int) -> None:
        if self.used is not None:
            self.used = max(0, self.used + delta)

    def published_immutable(self, si: StorageIndex, shnum: int, size: int) -> None:
        """An immutable share was published (its answer is not sent yet)."""
        self.shares.changed(si, shnum, size)
        self.read_ahead.forget(self.keys.immutable(si, shnum))  # no stale window of an older one
        self._account(size)

    def deleted_immutable(self, si: StorageIndex, shnum: int) -> None:
        """An immutable share was deleted by this server."""
        size = self.shares.immutable_size(si, shnum)
        self.shares.changed(si, shnum, None)
        self.read_ahead.forget(self.keys.immutable(si, shnum))
        if size is not None and size >= 0:
            self._account(-size)

    def note_write(self, si: StorageIndex) -> None:
        """A change to the shares of ``si`` begins (publish, mutable write or delete)."""
        self.shares.changing(si)

    def cached_head(self, si: StorageIndex, shnum: int) -> tuple[str, MutableHead] | None:
        return self._heads.fetch((si, shnum))

    def remember_head(self, si: StorageIndex, shnum: int, etag: str, head: MutableHead) -> None:
        self._heads.put((si, shnum), (etag, head))

    def note_mutable(
        self, si: StorageIndex, shnum: int, etag: str, head: MutableHead, old_length: int
    ) -> None:
        """A mutable share's head was written (created or changed) by this server."""
        self.remember_head(si, shnum, etag, head)
        self.shares.changed(si, shnum, MUTABLE)
        self._account(head.length - old_length)

    def forget_mutable(
        self, si: StorageIndex, shnum: int, *, freed: int = 0, deleted: bool = False
    ) -> None:
        """Drop a mutable share's cached head: it was ``deleted`` by this server,
        or a write failed or met a change it did not make (list again)."""
        self._heads.pop((si, shnum), None)
        if deleted:
            self.shares.changed(si, shnum, None)
        else:
            self.shares.forget(si)
        self._account(-freed)


def default_spool_dir(storage_dir: Path) -> Path:
    return storage_dir / "s3-spool"


def new_node_id() -> str:
    return os.urandom(16).hex()
