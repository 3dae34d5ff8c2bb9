"""Immutable shares on S3: uploads spooled to a local file, published whole; ranged reads.

An upload's bytes go to a temporary file (bounded memory whatever the share
size) and nothing reaches the bucket until ``publish``. Publishing stores the
leases first, then the share in one step: a single PUT, or for large shares
a multipart upload whose parts go up in parallel and which becomes visible
only at ``CompleteMultipartUpload``. A crash or an S3 fault at any point
leaves either no share or the whole share; a failed multipart upload is
aborted (and any the crash left behind are aborted at the next start).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, TypeVar

from attrs import frozen
from twisted.internet import defer
from twisted.internet.threads import deferToThread
from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IImmutableShare, IImmutableUpload
from tahoe_cloud.backends.s3 import multipart as mp
from tahoe_cloud.backends.s3 import spool
from tahoe_cloud.backends.s3.errors import S3Error, to_backend_error
from tahoe_cloud.backends.s3.objects import get_object, head_object, put_file_slice
from tahoe_cloud.backends.s3.transport import FileSlice
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex

if TYPE_CHECKING:
    from tahoe_cloud.backends.s3.backend import S3Backend
    from tahoe_cloud.backends.s3.shareset import S3ShareSet


T = TypeVar("T")

# The spool is read back in pieces of this size when it must be hashed again.
REHASH_PIECE = 1024 * 1024


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


@frozen
class PartDigest:
    """What the request for one body (a single PUT or one part) must say about it."""

    offset: int
    length: int
    md5: str  # base64, for Content-MD5
    sha256: str | None  # hex, for the SigV4 payload hash; None when not signed


class _Digests:
    """MD5 of the whole share and of each body (single PUT or part), fed as bytes arrive.

    The spool is then published without being read back to hash it: the
    bytes are hashed once, on their way in. Only bytes arriving in order
    can be hashed this way (the stock client writes in order); after an
    out-of-order write ``complete`` is False and ``rehash`` reads the spool.
    """

    def __init__(self, size: int, part_size: int, *, sha256: bool) -> None:
        self.size = size
        self.part_size = part_size
        self.pos = 0
        self.parts: list[PartDigest] = []
        self._sha = sha256
        # With more than one body the whole share needs an MD5 of its own.
        self._whole = hashlib.md5(usedforsecurity=False) if part_size < size else None
        self._part_md5 = hashlib.md5(usedforsecurity=False)
        self._part_sha = hashlib.sha256() if sha256 else None
        self._part_start = 0
        if size == 0:
            self._end_part()

    @property
    def complete(self) -> bool:
        return self.pos == self.size

    @property
    def whole_md5(self) -> str:
        if self._whole is None:
            return self.parts[0].md5  # one body: its MD5 is the whole share's
        return _b64(self._whole.digest())

    def _end_part(self) -> None:
        sha = None if self._part_sha is None else self._part_sha.hexdigest()
        length = self.pos - self._part_start
        self.parts.append(PartDigest(self._part_start, length, _b64(self._part_md5.digest()), sha))
        self._part_start = self.pos
        self._part_md5 = hashlib.md5(usedforsecurity=False)
        self._part_sha = hashlib.sha256() if self._sha else None

    def feed(self, offset: int, data: bytes) -> None:
        """Hash ``data`` written at ``offset`` if it continues what was hashed so far."""
        if offset != self.pos or not data:
            if offset + len(data) > self.pos and data:
                self.pos = -1  # a gap: hashing in order is no longer possible
            return
        view = memoryview(data)
        while view:
            take = min(len(view), self._part_start + self.part_size - self.pos)
            piece = view[:take]
            if self._whole is not None:
                self._whole.update(piece)
            self._part_md5.update(piece)
            if self._part_sha is not None:
                self._part_sha.update(piece)
            self.pos += take
            view = view[take:]
            if self.pos == self._part_start + self.part_size or self.pos == self.size:
                self._end_part()

    def rehash(self, f: IO[bytes]) -> _Digests:
        """The same digests computed from the spool file (after out-of-order writes)."""
        fresh = _Digests(self.size, self.part_size, sha256=self._sha)
        for offset in range(0, self.size, REHASH_PIECE):
            fresh.feed(offset, os.pread(f.fileno(), min(REHASH_PIECE, self.size - offset), offset))
        if not fresh.complete:
            raise BackendError("the upload spool file is shorter than the share")
        return fresh


def _read_at(f: IO[bytes], offset: int, size: int) -> bytes:
    return os.pread(f.fileno(), size, offset)


def _write_at(f: IO[bytes], digests: _Digests, offset: int, data: bytes) -> None:
    # Hashed only once every byte is in the file: a failed write leaves no trace.
    spool.write_fully(f.fileno(), data, offset)
    digests.feed(offset, data)


@implementer(IImmutableUpload)
class S3ImmutableUpload:
    """One upload in progress: a spool file, published to S3 when complete."""

    def __init__(self, shareset: S3ShareSet, share_number: int, allocated_size: int) -> None:
        self._shareset = shareset
        self._backend: S3Backend = shareset.backend
        self.share_number = share_number
        self.allocated_size = allocated_size
        backend = self._backend
        self._multipart = allocated_size > backend.multipart_threshold
        if self._multipart:
            part_size = max(mp.MIN_PART_SIZE, -(-allocated_size // mp.MAX_PARTS))
            part_size = max(part_size, backend.part_size)
        else:
            part_size = allocated_size
        key = backend.keys.immutable(shareset.storage_index, share_number)
        self._key = key
        self._digests = _Digests(
            allocated_size,
            part_size,
            sha256=backend.client.signer.needs_payload_hash(backend.client.address.url(key)),
        )
        # A spool write running in a worker thread: the file is not closed under it.
        self._busy: defer.Deferred[Any] | None = None
        try:
            self._file: IO[bytes] | None = tempfile.TemporaryFile(
                dir=backend.spool_dir, prefix=f"{shareset.storage_index.text}-{share_number}-"
            )
        except OSError as e:
            spool = backend.spool_dir
            raise BackendError(
                f"cannot create an upload spool file in {spool}: {e.strerror}"
            ) from None
        self._spooled = 0  # bytes counted in ``backend.spooled`` for this upload

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
        """Track the bytes received so far in ``backend.spooled``.

        The core writes each byte once (only the ranges still missing), so
        the sum of the writes, capped at the allocated size, is the bytes
        received; a caller writing a byte twice could only make the space
        reported smaller, never overcommit it.
        """
        if self._file is None:  # aborted while the write ran: already uncounted
            return
        new = max(0, min(self.allocated_size, self._spooled + delta))
        self._backend.spooled += new - self._spooled
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

    async def _final_digests(self, f: IO[bytes]) -> _Digests:
        if self._digests.complete:
            return self._digests
        digests: _Digests = await deferToThread(self._digests.rehash, f)
        return digests

    async def publish(self, leases: Sequence[Lease]) -> None:
        f = self._spool()
        si = self._shareset.storage_index
        self._backend.note_write(si)  # LISTs in flight now may be out of date
        try:
            digests = await self._final_digests(f)
            if self._multipart:
                await self._put_multipart(f, digests, leases)
            else:
                # Leases first: a lease without its share is harmless (ignored,
                # pruned later); a share without its lease must never be visible.
                await self._shareset.set_leases_of(self.share_number, leases)
                await self._put_single(f, digests.parts[0])
        except BaseException as e:
            # Did the share land? Unknown (e.g. an answer lost after retries): list again.
            self._backend.shares.forget(si)
            if isinstance(e, S3Error):
                raise to_backend_error(e) from None
            raise
        # The listing cache learns of the share before the upload's answer is sent.
        self._backend.published_immutable(si, self.share_number, self.allocated_size)
        self._shareset.note_published(self.share_number, ShareKind.IMMUTABLE)
        self._close()

    async def _put_single(self, f: IO[bytes], part: PartDigest) -> None:
        slots = self._backend.upload_slots
        await slots.acquire()
        try:
            body = FileSlice(f, 0, self.allocated_size)
            await put_file_slice(
                self._backend.client, self._key, body, md5=part.md5, sha256=part.sha256
            )
        finally:
            slots.release()

    async def _put_multipart(
        self, f: IO[bytes], digests: _Digests, leases: Sequence[Lease]
    ) -> None:
        """Parts go up while the leases are written; the share appears only at completion.

        ``CompleteMultipartUpload`` is sent only once the lease object holds
        the share's lease, so the order "leases, then the visible share" is
        kept while the slow part (the parts) overlaps the lease write.
        """
        client = self._backend.client
        key = self._key
        leases_written = defer.Deferred.fromCoroutine(
            self._shareset.set_leases_of(self.share_number, leases)
        )
        try:
            upload_id = await mp.create_multipart_upload(client, key, md5=digests.whole_md5)
        except BaseException:
            await _settle(leases_written)
            raise
        self._backend.publishing.add(upload_id)
        try:
            await self._send_parts(f, digests, upload_id, leases_written)
        finally:
            self._backend.publishing.discard(upload_id)

    async def _send_parts(
        self, f: IO[bytes], digests: _Digests, upload_id: str, leases_written: defer.Deferred[None]
    ) -> None:
        client = self._backend.client
        key = self._key
        limit = defer.DeferredSemaphore(self._backend.parallel_parts)
        slots = self._backend.upload_slots

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
                self._backend.aborts.add(key, upload_id)
            raise failure from None

    def _close(self) -> None:
        # Published (now in ``used``) or aborted: no longer spooled.
        self._backend.spooled -= self._spooled
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


@implementer(IImmutableShare)
class S3ImmutableShare:
    """A completed share; a read is one ranged GET, or none when read-ahead holds it.

    Its size comes from the listing cache, or, when the storage index was
    not listed (after a restart, or evicted), it is unknown at first: the
    read then asks for the range as given (S3 truncates it at the end of the
    object, and answers 416 past it) and learns the size from the answer's
    Content-Range, so no HEAD is needed. Only ``size()`` of such a share,
    or a read of zero bytes, costs a HEAD. A GET asks for the backend's
    read-ahead window, not just the read (see ``readahead``).
    """

    def __init__(
        self, backend: S3Backend, si: StorageIndex, share_number: int, size: int | None
    ) -> None:
        self._backend = backend
        self._si = si
        self.share_number = share_number
        self._size = size
        self._key = backend.keys.immutable(si, share_number)

    def _not_found(self) -> ShareNotFound:
        # The bucket disagrees with what this server knew: list the storage index again.
        self._backend.shares.forget(self._si)
        self._backend.read_ahead.forget(self._key)
        return ShareNotFound(f"no immutable share {self.share_number}")

    async def size(self) -> int:
        if self._size is None:
            try:
                info = await head_object(self._backend.client, self._key)
            except S3Error as e:
                raise to_backend_error(e) from None
            if info is None:
                raise self._not_found()
            self._size = info.size
        return self._size

    async def read(self, offset: int, size: int) -> bytes:
        if self._size is None and size == 0:
            await self.size()  # a read of nothing still says whether the share exists
        end = offset + size if self._size is None else min(offset + size, self._size)
        if end <= offset:
            return b""
        windows = self._backend.read_ahead
        held = windows.lookup(self._key, offset, end)
        if held is not None:
            return held
        start, length = windows.fetch_range(offset, end - offset, self._size)
        try:
            result = await get_object(self._backend.client, self._key, offset=start, size=length)
        except S3Error as e:
            if e.not_found:
                raise self._not_found() from None
            raise to_backend_error(e) from None
        if self._size is None and result.total_size is not None:
            self._size = result.total_size
        body = result.body
        if start == offset and len(body) <= end - offset:
            return body
        windows.store(self._key, start, body)
        return body[offset - start : end - start]
