"""Immutable uploads on S3: spooled to a local file, published whole.

An upload's bytes go to a temporary file (bounded memory whatever the share
size) and nothing reaches the bucket until ``publish``. Publishing stores the
leases first, then the share in one step: a single PUT, or for large shares
a multipart upload whose parts go up in parallel and which becomes visible
only at ``CompleteMultipartUpload``. A crash or an S3 fault at any point
leaves either no share or the whole share; a failed multipart upload is
aborted (and any the crash left behind are aborted at the next start).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar

from twisted.internet import defer
from twisted.internet.threads import deferToThread
from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IImmutableUpload
from tahoe_cloud.backends.s3 import spool
from tahoe_cloud.backends.s3.digests import Digests, PartDigest
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import head_object, put_file_slice
from tahoe_cloud.backends.s3.objectstore.transport import FileSlice
from tahoe_cloud.backends.s3.owner import ShareOwner
from tahoe_cloud.errors import BackendError
from tahoe_cloud.vocabulary import Lease, ShareKind

T = TypeVar("T")


def _read_at(f: IO[bytes], offset: int, size: int) -> bytes:
    return os.pread(f.fileno(), size, offset)


def _write_at(f: IO[bytes], digests: Digests, offset: int, data: bytes) -> None:
    # Hashed only once every byte is in the file: a failed write leaves no trace.
    spool.write_fully(f.fileno(), data, offset)
    digests.feed(offset, data)


@implementer(IImmutableUpload)
class S3ImmutableUpload:
    """One upload in progress: a spool file, published to S3 when complete."""

    def __init__(self, shareset: ShareOwner, share_number: int, allocated_size: int) -> None:
        self._shareset = shareset
        self._store = store = shareset.store
        self.share_number = share_number
        self.allocated_size = allocated_size
        tuning = store.tuning
        self._multipart = allocated_size > tuning.multipart_threshold
        if self._multipart:
            part_size = max(mp.MIN_PART_SIZE, -(-allocated_size // mp.MAX_PARTS))
            part_size = max(part_size, tuning.part_size)
        else:
            part_size = allocated_size
        key = store.keys.immutable(shareset.storage_index, share_number)
        self._key = key
        self._digests = Digests(
            allocated_size,
            part_size,
            sha256=store.client.signer.needs_payload_hash(store.client.address.url(key)),
        )
        # A spool write running in a worker thread: the file is not closed under it.
        self._busy: defer.Deferred[Any] | None = None
        try:
            self._file: IO[bytes] | None = tempfile.TemporaryFile(
                dir=store.spool_dir, prefix=f"{shareset.storage_index.text}-{share_number}-"
            )
        except OSError as e:
            raise BackendError(
                f"cannot create an upload spool file in {store.spool_dir}: {e.strerror}"
            ) from None
        self._spooled = 0  # bytes counted in ``store.space.spooled`` for this upload

    def _spool(self) -> IO[bytes]:
        if self._file is None:
            raise BackendError("this upload was aborted or published")
        return self._file

    async def write(self, offset: int, data: bytes) -> None:
        f = self._spool()
        try:
            # Writing and hashing happen off the reactor thread, whatever the
            # size: a pwrite may block (dirty-page throttling), and the thread
            # hop (~60 us) costs the reactor less than hashing a 40 KiB block
            # inline (~130 us, MD5 + SHA-256). hashlib and pwrite release the GIL.
            await self._in_thread(_write_at, f, self._digests, offset, data)
        except OSError as e:
            # Raised, the range is not recorded as received: the client may send it again.
            raise spool.write_error(e) from None
        self._count_spooled(len(data))

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Run spool I/O in a worker thread; ``abort`` waits for it before closing the file."""
        self._busy = deferToThread(fn, *args)
        try:
            result: T = await self._busy
            return result
        finally:
            self._busy = None

    def _count_spooled(self, delta: int) -> None:
        """Track the bytes received so far in ``store.space.spooled``.

        The core writes each byte once (only the ranges still missing), so
        the sum of the writes, capped at the allocated size, is the bytes
        received; a caller writing a byte twice could only make the space
        reported smaller, never overcommit it.
        """
        if self._file is None:  # aborted while the write ran: already uncounted
            return
        new = max(0, min(self.allocated_size, self._spooled + delta))
        self._store.space.spool(new - self._spooled)
        self._spooled = new

    async def read(self, offset: int, size: int) -> bytes:
        f = self._spool()
        end = min(offset + size, self.allocated_size)
        if end <= offset:
            return b""
        try:
            # The core's overlap check: off the reactor too (the spool may be paged out).
            return await self._in_thread(_read_at, f, offset, end - offset)
        except OSError as e:
            raise BackendError(f"cannot read the upload spool file: {e.strerror}") from None

    async def _final_digests(self, f: IO[bytes]) -> Digests:
        if self._digests.complete:
            return self._digests
        digests: Digests = await deferToThread(self._digests.rehash, f)
        return digests

    async def publish(self, leases: Sequence[Lease]) -> None:
        f = self._spool()
        si = self._shareset.storage_index
        self._store.changing(si)  # LISTs in flight now may be out of date
        try:
            digests = await self._final_digests(f)
            if self._multipart:
                await self._put_multipart(f, digests, leases)
            else:
                # Leases first: a lease without its share is harmless (ignored,
                # pruned later); a share without its lease must never be visible.
                await self._shareset.set_leases_of(self.share_number, leases)
                await self._put_single(f, digests.parts[0])
        except BaseException:
            # Did the share land? Unknown (e.g. an answer lost after retries): list again.
            self._store.forget_listing(si)
            raise
        # The listing cache learns of the share before the upload's answer is sent.
        self._store.published_immutable(si, self.share_number, self.allocated_size)
        self._shareset.note_published(self.share_number, ShareKind.IMMUTABLE)
        self._close()

    async def _put_single(self, f: IO[bytes], part: PartDigest) -> None:
        slots = self._store.upload_slots
        await slots.acquire()
        try:
            body = FileSlice(f, 0, self.allocated_size)
            await put_file_slice(
                self._store.client, self._key, body, md5=part.md5, sha256=part.sha256
            )
        finally:
            slots.release()

    async def _put_multipart(self, f: IO[bytes], digests: Digests, leases: Sequence[Lease]) -> None:
        """Parts go up while the leases are written; the share appears only at completion.

        ``CompleteMultipartUpload`` is sent only once the lease object holds
        the share's lease, so the order "leases, then the visible share" is
        kept while the slow part (the parts) overlaps the lease write.
        """
        client = self._store.client
        key = self._key
        leases_written = defer.Deferred.fromCoroutine(
            self._shareset.set_leases_of(self.share_number, leases)
        )
        try:
            upload_id = await mp.create_multipart_upload(client, key, md5=digests.whole_md5)
        except BaseException:
            await _settle(leases_written)
            raise
        self._store.publishing.add(upload_id)
        try:
            await self._send_parts(f, digests, upload_id, leases_written)
        finally:
            self._store.publishing.discard(upload_id)

    async def _send_parts(
        self, f: IO[bytes], digests: Digests, upload_id: str, leases_written: defer.Deferred[None]
    ) -> None:
        client = self._store.client
        key = self._key
        limit = defer.DeferredSemaphore(self._store.tuning.parallel_parts)
        slots = self._store.upload_slots

        async def send(number: int, part: PartDigest) -> str:
            await limit.acquire()
            await slots.acquire()
            try:
                body = FileSlice(f, part.offset, part.length)
                return await mp.upload_part(
                    client, key, upload_id, number, body, md5=part.md5, sha256=part.sha256
                )
            finally:
                slots.release()
                limit.release()

        parts: list[defer.Deferred[str]] = []
        try:
            for i, part in enumerate(digests.parts):
                parts.append(defer.Deferred.fromCoroutine(send(i + 1, part)))
            etags = await defer.gatherResults(parts, consumeErrors=True)
            await leases_written
            try:
                await mp.complete_multipart_upload(client, key, upload_id, etags)
            except S3Error as e:
                # A retried completion whose first attempt landed finds no upload.
                info = await head_object(client, key) if e.code == "NoSuchUpload" else None
                if info is None or info.size != self.allocated_size:
                    raise
        except Exception as e:  # noqa: BLE001 - re-raised below, after the clean-up
            failure: BaseException = e.subFailure.value if isinstance(e, defer.FirstError) else e  # type: ignore[assignment]
            for d in parts:
                d.cancel()
            await _settle(leases_written)
            try:
                await mp.abort_multipart_upload(client, key, upload_id)
            except S3Error:
                # An outage: aborted again later (and by the next start's sweep or clean).
                self._store.aborts.add(key, upload_id)
            raise failure from None

    def _close(self) -> None:
        # Published (now in ``used``) or aborted: no longer spooled.
        self._store.space.spool(-self._spooled)
        self._spooled = 0
        if self._file is not None:
            self._file.close()
            self._file = None

    async def abort(self) -> None:
        if self._busy is not None:
            await _settle(self._busy)
        self._close()


async def _settle(d: defer.Deferred[object] | defer.Deferred[None]) -> None:
    """Wait for ``d`` to finish, whatever its outcome (clean-up paths)."""
    # The caller is already failing or aborting: this outcome adds nothing.
    with contextlib.suppress(Exception):
        await d
