"""``ShareStore``: what share sets, uploads and shares need, passed down from the backend.

It holds the object-store client, the key layout and the tuning, and the
state shared by every share set of a node: the listing cache (``sharecache``),
the head cache of mutable shares, the read-ahead windows, the space account,
the limit on share bodies being sent, the multipart uploads being published
and the aborts to retry. Share code reads and changes that state only
through the named methods here, so each rule (which write drops which cache
entry, what counts as stored) is written once; nothing here refers back to
the backend.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TypeVar

from twisted.internet import defer
from twisted.logger import Logger

from tahoe_cloud.backends.s3.aborts import PendingAborts
from tahoe_cloud.backends.s3.keys import KeyLayout, parse_share_name
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.listing import list_objects
from tahoe_cloud.backends.s3.readahead import ReadAhead
from tahoe_cloud.backends.s3.records import MutableHead
from tahoe_cloud.backends.s3.settings import Tuning
from tahoe_cloud.backends.s3.sharecache import MUTABLE, ShareCache
from tahoe_cloud.backends.s3.space import SpaceAccount
from tahoe_cloud.vocabulary import ShareKind, StorageIndex

log = Logger()

K = TypeVar("K")
V = TypeVar("V")


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


class ShareStore:
    """The bucket as share code sees it: client, keys, tuning, caches and accounting."""

    def __init__(
        self,
        client: S3Client,
        keys: KeyLayout,
        tuning: Tuning,
        spool_dir: Path,
        aborts: PendingAborts,
    ) -> None:
        self.client = client
        self.keys = keys
        self.tuning = tuning
        self.spool_dir = spool_dir
        self.aborts = aborts
        # The shares of each storage index, as this server knows them (see sharecache).
        self.listings = ShareCache(tuning.listing_cache_entries)
        # Windows of immutable shares read lately (see readahead).
        self.read_ahead = ReadAhead(tuning.read_ahead)
        self.space = SpaceAccount()
        self.upload_slots = defer.DeferredSemaphore(tuning.publish_buffers)
        # Multipart uploads being published now (their ids): never orphans.
        self.publishing: set[str] = set()
        self._heads: _LRU[tuple[StorageIndex, int], tuple[str, MutableHead]] = _LRU(
            tuning.head_cache_entries
        )

    @property
    def conditional_writes(self) -> bool:
        """Whether the service's conditional PUTs are in use (the start-up probe decides)."""
        return self.client.conditions.enabled

    # --- listings -----------------------------------------------------------------

    async def shares_of(self, si: StorageIndex) -> dict[int, ShareKind]:
        """The shares of ``si``: from the listing cache, else one LIST (paginated) that fills it.

        This server is the only writer of its prefix and keeps a cached entry
        exact, so a known storage index costs no request (see sharecache).
        """
        known = self.listings.listing(si)
        if known is not None:
            return known
        started = self.listings.stamp()
        prefix = self.keys.shares_of(si)
        listing: dict[int, ShareKind] = {}
        sizes: dict[int, int] = {}
        async for obj in list_objects(self.client, prefix):
            parsed = parse_share_name(obj.key[len(prefix) :])
            if parsed is None:
                continue  # not a share of ours: ignored, never misread
            number, kind = parsed
            if listing.get(number) is ShareKind.IMMUTABLE:
                continue
            listing[number] = kind
            sizes[number] = obj.size if kind is ShareKind.IMMUTABLE else MUTABLE
        self.listings.store(si, sizes, started)
        return listing

    def immutable_size(self, si: StorageIndex, shnum: int) -> int | None:
        return self.listings.immutable_size(si, shnum)

    def changing(self, si: StorageIndex) -> None:
        """A change to the shares of ``si`` begins (publish, mutable write or delete)."""
        self.listings.changing(si)

    def forget_listing(self, si: StorageIndex) -> None:
        """What ``si`` holds is unknown now (a write's outcome is unknown): list it again."""
        self.listings.forget(si)

    # --- immutable shares ---------------------------------------------------------

    def published_immutable(self, si: StorageIndex, shnum: int, size: int) -> None:
        """An immutable share was published (its answer is not sent yet)."""
        self.listings.changed(si, shnum, size)
        self.read_ahead.forget(self.keys.immutable(si, shnum))  # no stale window of an older one
        self.space.stored(size)

    def deleted_immutable(self, si: StorageIndex, shnum: int) -> None:
        """An immutable share was deleted by this server."""
        size = self.listings.immutable_size(si, shnum)
        self.listings.changed(si, shnum, None)
        self.read_ahead.forget(self.keys.immutable(si, shnum))
        if size is not None and size >= 0:
            self.space.stored(-size)

    def missing_immutable(self, si: StorageIndex, key: str) -> None:
        """The bucket lacks a share this server believed in: list ``si`` again."""
        self.listings.forget(si)
        self.read_ahead.forget(key)

    # --- mutable shares -------------------------------------------------------------

    def cached_head(self, si: StorageIndex, shnum: int) -> tuple[str, MutableHead] | None:
        return self._heads.fetch((si, shnum))

    def remember_head(self, si: StorageIndex, shnum: int, etag: str, head: MutableHead) -> None:
        self._heads.put((si, shnum), (etag, head))

    def note_mutable(
        self, si: StorageIndex, shnum: int, etag: str, head: MutableHead, old_length: int
    ) -> None:
        """A mutable share's head was written (created or changed) by this server."""
        self.remember_head(si, shnum, etag, head)
        self.listings.changed(si, shnum, MUTABLE)
        self.space.stored(head.length - old_length)

    def forget_mutable(
        self, si: StorageIndex, shnum: int, *, freed: int = 0, deleted: bool = False
    ) -> None:
        """Drop a mutable share's cached head: it was ``deleted`` by this server,
        or a write failed or met a change it did not make (list again)."""
        self._heads.pop((si, shnum), None)
        if deleted:
            self.listings.changed(si, shnum, None)
        else:
            self.listings.forget(si)
        self.space.stored(-freed)

    @staticmethod
    def log_orphans(count: int) -> None:
        log.warn("S3: could not delete {n} superseded chunk(s); collect_orphans will", n=count)
