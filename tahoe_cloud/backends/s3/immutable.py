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
import hashlib
import os
import tempfile
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from twisted.internet import defer
from twisted.internet.threads import deferToThread
from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IImmutableShare, IImmutableUpload, ShareKind
from tahoe_cloud.backends.s3 import multipart as mp
from tahoe_cloud.backends.s3.errors import S3Error, to_backend_error
from tahoe_cloud.backends.s3.objects import get_object, head_object, put_object
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.identifiers import StorageIndex
from tahoe_cloud.leases import Lease

if TYPE_CHECKING:
    from tahoe_cloud.backends.s3.backend import S3Backend
    from tahoe_cloud.backends.s3.shareset import S3ShareSet


def _digests(data: bytes) -> str:
    """Content-MD5 of ``data`` (computed in a worker thread for large bodies)."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def _file_md5(f: IO[bytes], size: int) -> str:
    """Content-MD5 of the first ``size`` bytes of ``f``, read in 8 MiB pieces."""
    digest = hashlib.md5(usedforsecurity=False)
    for offset in range(0, size, 8 * 1024 * 1024):
        digest.update(os.pread(f.fileno(), min(8 * 1024 * 1024, size - offset), offset))
    return base64.b64encode(digest.digest()).decode("ascii")


def _read_at(f: IO[bytes], offset: int, size: int) -> bytes:
    return os.pread(f.fileno(), size, offset)


@implementer(IImmutableUpload)
class S3ImmutableUpload:
    """One upload in progress: a spool file, published to S3 when complete."""

    def __init__(self, shareset: S3ShareSet, share_number: int, allocated_size: int) -> None:
        self._shareset = shareset
        self._backend: S3Backend = shareset.backend
        self.share_number = share_number
        self.allocated_size = allocated_size
        try:
            self._file: IO[bytes] | None = tempfile.TemporaryFile(
                dir=self._backend.spool_dir, prefix=f"{shareset.storage_index.text}-{share_number}-"
            )
        except OSError as e:
            spool = self._backend.spool_dir
            raise BackendError(
                f"cannot create an upload spool file in {spool}: {e.strerror}"
            ) from None
        self._published = False

    def _spool(self) -> IO[bytes]:
        if self._file is None:
            raise BackendError("this upload was aborted or published")
        return self._file

    async def write(self, offset: int, data: bytes) -> None:
        f = self._spool()
        try:
            os.pwrite(f.fileno(), data, offset)
        except OSError as e:
            raise BackendError(f"cannot write the upload spool file: {e.strerror}") from None

    async def read(self, offset: int, size: int) -> bytes:
        f = self._spool()
        end = min(offset + size, self.allocated_size)
        if end <= offset:
            return b""
        return _read_at(f, offset, end - offset)

    async def publish(self, leases: Sequence[Lease]) -> None:
        f = self._spool()
        si = self._shareset.storage_index
        key = self._backend.keys.immutable(si, self.share_number)
        # Leases first: a lease without its share is harmless (ignored, pruned
        # later); a share without its lease must never be visible.
        await self._shareset.set_leases_of(self.share_number, leases)
        try:
            if self.allocated_size <= self._backend.multipart_threshold:
                await self._put_single(f, key)
            else:
                await self._put_multipart(f, key)
        except S3Error as e:
            raise to_backend_error(e) from None
        self._published = True
        self._backend.note_immutable(si, self.share_number, self.allocated_size, new=True)
        self._shareset.note_published(self.share_number, ShareKind.IMMUTABLE)
        self._close()

    async def _put_single(self, f: IO[bytes], key: str) -> None:
        buffers = self._backend.buffers
        await buffers.acquire()
        try:
            body: bytes = await deferToThread(_read_at, f, 0, self.allocated_size)
            if len(body) != self.allocated_size:
                raise BackendError("the upload spool file is shorter than the share")
            md5: str = await deferToThread(_digests, body)
            await put_object(self._backend.client, key, body, md5=md5)
        finally:
            buffers.release()

    async def _put_multipart(self, f: IO[bytes], key: str) -> None:
        client = self._backend.client
        part_size = max(mp.MIN_PART_SIZE, -(-self.allocated_size // mp.MAX_PARTS))
        part_size = max(part_size, self._backend.part_size)
        whole_md5: str = await deferToThread(_file_md5, f, self.allocated_size)
        upload_id = await mp.create_multipart_upload(client, key, md5=whole_md5)
        limit = defer.DeferredSemaphore(self._backend.parallel_parts)

        async def send(number: int, offset: int) -> str:
            await limit.acquire()
            await self._backend.buffers.acquire()
            try:
                size = min(part_size, self.allocated_size - offset)
                body: bytes = await deferToThread(_read_at, f, offset, size)
                md5: str = await deferToThread(_digests, body)
                return await mp.upload_part(client, key, upload_id, number, body, md5=md5)
            finally:
                self._backend.buffers.release()
                limit.release()

        parts: list[defer.Deferred[str]] = []
        try:
            for i, offset in enumerate(range(0, self.allocated_size, part_size)):
                parts.append(defer.Deferred.fromCoroutine(send(i + 1, offset)))
            etags = await defer.gatherResults(parts, consumeErrors=True)
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
            try:
                await mp.abort_multipart_upload(client, key, upload_id)
            except S3Error:
                pass  # the orphan sweep at the next start aborts it
            raise failure from None

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    async def abort(self) -> None:
        self._close()


@implementer(IImmutableShare)
class S3ImmutableShare:
    """A completed share: its size is known (from the listing or a HEAD); reads are ranged GETs."""

    def __init__(self, backend: S3Backend, si: StorageIndex, share_number: int, size: int) -> None:
        self._backend = backend
        self._si = si
        self.share_number = share_number
        self._size = size

    async def size(self) -> int:
        return self._size

    async def read(self, offset: int, size: int) -> bytes:
        end = min(offset + size, self._size)
        if end <= offset:
            return b""
        key = self._backend.keys.immutable(self._si, self.share_number)
        try:
            result = await get_object(self._backend.client, key, offset=offset, size=end - offset)
        except S3Error as e:
            if e.not_found:
                self._backend.forget_immutable(self._si, self.share_number)
                raise ShareNotFound(f"no immutable share {self.share_number}") from None
            raise to_backend_error(e) from None
        return result.body
