"""Mutable shares on S3: a small head object, inline data or immutable chunk objects.

A share's head (``...{n}.mutable``) holds the write enabler, the length and
either the data itself (shares up to ``inline_limit`` bytes: one object,
one PUT per write, one GET per read) or the generation ids of its chunks
(``chunk_size`` bytes each). Chunk objects are never overwritten: a write
puts new chunks for the chunks it changes, under new names, then replaces
the head with a conditional PUT (``If-Match`` on the head's ETag, or
``If-None-Match: *`` when creating). That PUT is the commit point, so after
a crash the share reads wholly as before or wholly as after, a second
process writing the same bucket gets a 412 instead of clobbering the share,
and a small write to a large share costs one chunk, not the whole share.
Superseded chunks are deleted after the commit; a crash between the two
leaves unreferenced chunks, which ``Maintenance.collect_orphans`` removes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IMutableShare
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import delete_objects, get_object, put_object
from tahoe_cloud.backends.s3.owner import ShareOwner
from tahoe_cloud.backends.s3.records import MutableHead, decode_head, encode_head
from tahoe_cloud.errors import BackendError, BackendUnavailable
from tahoe_cloud.vocabulary import ShareKind, WriteEnabler, WriteVector

log = Logger()


def definitely_refused(error: S3Error) -> bool:
    """The service answered, and its answer says the request was not applied.

    A 4xx other than the transient ones (429, RequestTimeout...) is a
    refusal; no answer, a timeout or a 5xx may hide a request that landed.
    """
    return error.status is not None and 400 <= error.status < 500 and not error.transient


def _new_gen() -> str:
    return os.urandom(6).hex()


def _apply(buf: bytearray, base: int, end: int, writes: Sequence[WriteVector]) -> None:
    """Apply the parts of ``writes`` in ``[base, end)`` to ``buf`` (which holds that span)."""
    for wv in writes:
        start = max(wv.offset, base)
        stop = min(wv.offset + len(wv.data), end)
        if start < stop:
            buf[start - base : stop - base] = wv.data[start - wv.offset : stop - wv.offset]


@implementer(IMutableShare)
class S3MutableShare:
    def __init__(
        self,
        shareset: ShareOwner,
        share_number: int,
        *,
        head: MutableHead | None,
        etag: str | None,
        new_write_enabler: WriteEnabler | None = None,
    ) -> None:
        self._shareset = shareset
        self._store = shareset.store
        self._si = shareset.storage_index
        self.share_number = share_number
        self._head = head
        self._etag = etag
        self._new_write_enabler = new_write_enabler

    @property
    def head(self) -> MutableHead | None:
        return self._head

    async def write_enabler(self) -> WriteEnabler:
        if self._head is None:
            assert self._new_write_enabler is not None
            return self._new_write_enabler
        return self._head.write_enabler

    async def size(self) -> int:
        return 0 if self._head is None else self._head.length

    async def read(self, offset: int, size: int) -> bytes:
        head = self._head
        if head is None:
            return b""
        end = min(offset + size, head.length)
        if end <= offset:
            return b""
        if head.inline is not None:
            return head.inline[offset:end]
        cs = head.chunk_size
        pieces = [
            defer.Deferred.fromCoroutine(
                self._read_chunk(
                    head, i, max(offset, i * cs) - i * cs, min(end, (i + 1) * cs) - i * cs
                )
            )
            for i in range(offset // cs, (end - 1) // cs + 1)
        ]
        try:
            results: list[bytes] = await defer.gatherResults(pieces, consumeErrors=True)
        except defer.FirstError as e:
            raise e.subFailure.value from None  # type: ignore[misc]
        return b"".join(results)

    async def _read_chunk(self, head: MutableHead, index: int, start: int, stop: int) -> bytes:
        gen = head.chunks[index]
        if gen is None:
            return bytes(stop - start)
        key = self._store.keys.chunk(self._si, self.share_number, index, gen)
        try:
            body = (await get_object(self._store.client, key, offset=start, size=stop - start)).body
        except S3Error as e:
            if e.not_found:
                # Our cached head is stale: another writer replaced this chunk.
                self._store.forget_mutable(self._si, self.share_number)
                raise BackendUnavailable(
                    f"mutable share {self.share_number} changed under this server; try again"
                ) from None
            raise
        if len(body) != stop - start:
            raise BackendError(f"S3 object {key!r} is shorter than its mutable share says")
        return body

    async def write(self, writes: Sequence[WriteVector], new_length: int | None) -> None:
        old = self._head
        old_len = 0 if old is None else old.length
        new_len = max([old_len] + [wv.offset + len(wv.data) for wv in writes])
        if new_length is not None:
            new_len = new_length
        enabler = await self.write_enabler()
        store = self._store
        store.changing(self._si)  # LISTs in flight now may be out of date
        put_chunks: list[str] = []
        if new_len <= store.tuning.inline_limit:
            buf = bytearray(await self.read(0, min(old_len, new_len)))
            buf.extend(bytes(new_len - len(buf)))
            _apply(buf, 0, new_len, writes)
            head = MutableHead(enabler, new_len, store.tuning.chunk_size, bytes(buf), ())
        else:
            head, put_chunks = await self._write_chunks(old, old_len, new_len, writes, enabler)
        keys = store.keys
        head_key = keys.mutable_head(self._si, self.share_number)
        try:
            etag = await put_object(
                store.client,
                head_key,
                encode_head(head),
                if_match=self._etag if old is not None else None,
                if_none_match=old is None,
            )
        except S3Error as e:
            # Whatever happened, our cached head and listing may be wrong now:
            # the next operation reads the truth from S3.
            store.forget_mutable(self._si, self.share_number)
            if definitely_refused(e):
                await self._delete_unreferenced(put_chunks, head_key)
            elif put_chunks:
                # The PUT may have landed (answer lost, timeout, 5xx after
                # applying it): the committed head may reference the new
                # chunks, so they must stay. If it did not land they are
                # orphans, which collect_orphans removes.
                log.warn(
                    "S3: the outcome of a mutable head PUT is unknown ({error});"
                    " its {n} new chunk(s) are left for collect_orphans",
                    error=f"HTTP {e.status} {e.code or ''}".strip() if e.status else "no answer",
                    n=len(put_chunks),
                )
            if e.precondition_failed:
                # put_object read the head back: it really changed (or is gone).
                # A refused condition that held is ConditionRefused, raised below.
                raise BackendError(
                    f"mutable share {self.share_number} was changed by another writer of this"
                    " bucket (its head is no longer the version this server read); the write"
                    " was not applied"
                ) from None
            raise
        # Committed. Superseded chunks are garbage now.
        kept = set(head.chunks)
        superseded = [
            keys.chunk(self._si, self.share_number, i, gen)
            for i, gen in enumerate(() if old is None else old.chunks)
            if gen is not None and gen not in kept
        ]
        await self._delete_quietly(superseded)
        self._head, self._etag, self._new_write_enabler = head, etag, None
        store.note_mutable(self._si, self.share_number, etag, head, old_len)
        self._shareset.note_published(self.share_number, ShareKind.MUTABLE)

    async def _write_chunks(
        self,
        old: MutableHead | None,
        old_len: int,
        new_len: int,
        writes: Sequence[WriteVector],
        enabler: WriteEnabler,
    ) -> tuple[MutableHead, list[str]]:
        store = self._store
        chunked_before = old is not None and old.inline is None
        cs = old.chunk_size if old is not None and chunked_before else store.tuning.chunk_size
        old_chunks = old.chunks if old is not None and chunked_before else ()
        count = -(-new_len // cs)
        new_chunks: list[str | None] = []
        jobs: list[tuple[int, str, int, int]] = []  # index, gen, span start, span end
        for i in range(count):
            base, end = i * cs, min((i + 1) * cs, new_len)
            old_gen = old_chunks[i] if i < len(old_chunks) else None
            old_end = min((i + 1) * cs, old_len)
            touched = any(wv.offset < end and wv.offset + len(wv.data) > base for wv in writes)
            has_old_bytes = base < old_len
            reshaped = has_old_bytes and old_end != end
            materialise = has_old_bytes and not chunked_before
            if not (touched or reshaped or materialise):
                new_chunks.append(old_gen)  # unchanged, or a hole of zeros
                continue
            gen = _new_gen()
            new_chunks.append(gen)
            jobs.append((i, gen, base, end))
        limit = defer.DeferredSemaphore(store.tuning.parallel_parts)
        keys: list[str] = []

        async def build_and_put(i: int, gen: str, base: int, end: int) -> None:
            await limit.acquire()
            try:
                buf = bytearray(
                    await self.read(base, min(end, old_len) - base) if base < old_len else b""
                )
                buf.extend(bytes(end - base - len(buf)))
                _apply(buf, base, end, writes)
                key = store.keys.chunk(self._si, self.share_number, i, gen)
                keys.append(key)
                await put_object(store.client, key, bytes(buf), if_none_match=True)
            finally:
                limit.release()

        try:
            await defer.gatherResults(
                [defer.Deferred.fromCoroutine(build_and_put(*job)) for job in jobs],
                consumeErrors=True,
            )
        except Exception as e:  # noqa: BLE001 - re-raised below, after the clean-up
            await self._delete_quietly(keys)
            failure: BaseException = e.subFailure.value if isinstance(e, defer.FirstError) else e  # type: ignore[assignment]
            raise failure from None
        return MutableHead(enabler, new_len, cs, None, tuple(new_chunks)), keys

    async def _delete_unreferenced(self, keys: list[str], head_key: str) -> None:
        """Delete the new chunks of a refused head PUT, except any the head now names.

        A refusal is definite for the attempt that got it, but an earlier
        attempt of the same (retried) PUT may have landed and been replaced
        since by a head that kept some of its chunks: read the head before
        deleting, and when it cannot be read, delete nothing.
        """
        if not keys:
            return
        try:
            current = await get_object(self._store.client, head_key)
            now = decode_head(current.body, head_key)
            referenced = {
                self._store.keys.chunk(self._si, self.share_number, i, gen)
                for i, gen in enumerate(now.chunks)
                if gen is not None
            }
        except S3Error as e:
            if not e.not_found:
                self._store.log_orphans(len(keys))
                return
            referenced = set()
        except BackendError:  # an undecodable head: leave everything in place
            self._store.log_orphans(len(keys))
            return
        gone = [k for k in keys if k not in referenced]
        await self._delete_quietly(gone)

    async def _delete_quietly(self, keys: list[str]) -> None:
        """Delete garbage chunks; on failure leave them to ``collect_orphans``."""
        if not keys:
            return
        try:
            await delete_objects(self._store.client, keys)
        except S3Error:
            self._store.log_orphans(len(keys))
