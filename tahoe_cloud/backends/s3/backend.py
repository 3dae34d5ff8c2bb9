"""``S3Backend``: the ``IStorageBackend`` keeping shares in an S3 bucket.

Start-up does, in order: the service check (URL, credentials, bucket,
clock), the conditional-write probe (``probe``: which ``If-Match`` form the
service honours; a service that ignores conditions is refused unless
``s3.conditional_writes = optional``), the ownership marker (one server
per bucket and prefix), a fresh local spool directory for uploads, and
aborting multipart uploads a crash left behind. When ``s3.quota`` is set
it also measures the bytes stored (one LIST per 1,000 objects, at start
only) and keeps the count up to date from its own writes.

The backend itself only wires the parts together: share sets get the
``ShareStore`` (client, keys, tuning, caches, accounting), never the
backend; the bucket-wide chores are ``Maintenance``'s. It provides
``IShareEnumeration`` (``enumeration``: two listings, no GET).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from twisted.logger import Logger
from zope.interface import implementer

from tahoe_cloud.backends.capabilities import IShareEnumeration, StoredIndex
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.s3 import enumeration, spool
from tahoe_cloud.backends.s3.aborts import PendingAborts
from tahoe_cloud.backends.s3.admin import StartupCheck, check_service
from tahoe_cloud.backends.s3.maintenance import Maintenance
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import put_object
from tahoe_cloud.backends.s3.probe import ConditionalWritesUnsupported, ProbeReport, choose, probe
from tahoe_cloud.backends.s3.settings import BackendSettings
from tahoe_cloud.backends.s3.shareset import S3ShareSet
from tahoe_cloud.backends.s3.store import ShareStore
from tahoe_cloud.errors import BackendError, ConfigError
from tahoe_cloud.vocabulary import ShareKind, StorageIndex

log = Logger()


@implementer(IStorageBackend, IShareEnumeration)
class S3Backend:
    name = "cloud.s3"

    def __init__(
        self,
        client: S3Client,
        settings: BackendSettings,
        *,
        spool_dir: Path,
        clock: Callable[[], float] = time.time,
        config_error: Callable[[BackendError], ConfigError | None] | None = None,
    ) -> None:
        """``config_error``: the ``ConfigError`` a start-up failure amounts to, if any."""
        self.client = client
        self.settings = settings
        self.keys = settings.keys
        self.spool_dir = spool_dir
        self.maximum_mutable_share_size = settings.tuning.maximum_mutable_share_size
        self._clock = clock
        self._config_error = config_error
        self.aborts = PendingAborts(client, settings.tuning.abort_retry_delays)
        self.store = ShareStore(client, settings.keys, settings.tuning, spool_dir, self.aborts)
        self.maintenance = Maintenance(client, settings.keys, clock)
        self.probe_report: ProbeReport | None = None
        self.startup: StartupCheck | None = None

    def __repr__(self) -> str:
        return f"<S3Backend {self.client!r} prefix={self.keys.prefix!r}>"

    # --- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        try:
            self.startup = await check_service(self.client, self._clock)
            await self.probe_conditional_writes()
            await self.maintenance.claim_marker(settings.node_id, override=settings.override_marker)
            spool.reset(self.spool_dir)
            await self.maintenance.abort_orphan_uploads()
            if settings.clean_at_start:
                # Nothing else writes this prefix yet (the marker is ours): no age margin needed.
                await self.maintenance.collect_orphans(min_age=0)
            if settings.quota is not None:
                self.store.space.used = await self.maintenance.measure_usage()
        except (S3Error, ConditionalWritesUnsupported) as e:
            if self._config_error is not None and (mapped := self._config_error(e)) is not None:
                raise mapped from None
            raise

    async def probe_conditional_writes(self) -> ProbeReport:
        """Find the conditional-write form the service honours, and use it from now on."""
        report = await probe(self.client, self.keys)
        self.probe_report = report
        self.client.conditions = choose(
            report,
            required=self.settings.require_conditional_writes,
            where=self.client.address.url(),
        )
        return report

    async def stop(self) -> None:
        await self.aborts.stop()
        await self.client.close()

    # --- IStorageBackend --------------------------------------------------------

    @asynccontextmanager
    async def shareset(self, storage_index: StorageIndex) -> AsyncIterator[S3ShareSet]:
        shares = S3ShareSet(self.store, storage_index)
        try:
            yield shares
        finally:
            shares.close()

    def storage_indexes(
        self, after: StorageIndex | None = None
    ) -> AsyncIterator[list[StoredIndex]]:
        """``IShareEnumeration``: ``shares/`` merged with ``leases/``, one LIST per 1,000 keys."""
        return enumeration.storage_indexes(self.client, self.keys, after)

    async def available_space(self) -> int:
        """The quota's room, bounded by the spool's free space (see ``space``)."""
        return self.store.space.available(self.settings.quota, self.spool_dir)

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
        await put_object(self.client, key, text, content_type="text/plain; charset=utf-8")
        log.info(
            "corruption advisory for {kind} share {si}:{n} stored as {key}",
            kind=kind.value,
            si=storage_index.text,
            n=share_number,
            key=key,
        )
