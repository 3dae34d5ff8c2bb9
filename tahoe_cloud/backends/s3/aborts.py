"""Multipart uploads this node failed to abort, aborted again later in the background.

A failed publish aborts its multipart upload, but during an S3 outage the
abort fails as well: the upload is invisible yet holds (billed) storage until
it is aborted. It is retried here a bounded number of times, with growing
delays, for as long as the node runs; past that (or after a restart) the
start-up sweep and ``tahoe-cloud clean`` find it by listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import S3Error

log = Logger()

# Seconds before each retry: an outage of up to about an hour is outlasted.
DEFAULT_DELAYS = (30.0, 120.0, 600.0, 1800.0)


class PendingAborts:
    """Upload ids whose abort failed, each with the timer of its next attempt."""

    def __init__(self, client: S3Client, delays: Sequence[float] = DEFAULT_DELAYS) -> None:
        self._client = client
        self._delays = tuple(delays)
        self._timers: dict[str, IDelayedCall] = {}
        self._running: set[defer.Deferred[None]] = set()
        self._stopped = False

    def __len__(self) -> int:
        return len(self._timers) + len(self._running)

    def add(self, key: str, upload_id: str) -> None:
        """Abort ``upload_id`` of ``key`` later (its abort just failed)."""
        self._schedule(key, upload_id, 0)

    def _schedule(self, key: str, upload_id: str, attempt: int) -> None:
        if self._stopped or attempt >= len(self._delays):
            log.warn(
                "S3: could not abort the multipart upload of {key}; 'tahoe-cloud clean'"
                " or the next start will",
                key=key,
            )
            return
        reactor: Any = self._client.reactor
        self._timers[upload_id] = reactor.callLater(
            self._delays[attempt], self._fire, key, upload_id, attempt
        )

    def _fire(self, key: str, upload_id: str, attempt: int) -> None:
        self._timers.pop(upload_id, None)
        d = defer.Deferred.fromCoroutine(self._attempt(key, upload_id, attempt))
        self._running.add(d)
        d.addBoth(lambda _: self._running.discard(d))

    async def _attempt(self, key: str, upload_id: str, attempt: int) -> None:
        try:
            await mp.abort_multipart_upload(self._client, key, upload_id)
        except S3Error as e:
            log.info(
                "S3: aborting the multipart upload of {key} failed again ({error})",
                key=key,
                error=f"HTTP {e.status} {e.code or ''}".strip() if e.status else e.s3_message,
            )
            self._schedule(key, upload_id, attempt + 1)
            return
        log.info("S3: aborted the multipart upload of {key} left by a failed publish", key=key)

    async def stop(self) -> None:
        """No more retries (the node stops): what is left is for the next start's sweep."""
        self._stopped = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for d in list(self._running):
            await d
