"""Completed immutable shares on S3: ranged reads, with read-ahead windows kept in memory."""

from __future__ import annotations

from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IImmutableShare
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import get_object, head_object
from tahoe_cloud.backends.s3.store import ShareStore
from tahoe_cloud.errors import ShareNotFound
from tahoe_cloud.vocabulary import StorageIndex


@implementer(IImmutableShare)
class S3ImmutableShare:
    """A completed share; a read is one ranged GET, or none when read-ahead holds it.

    Its size comes from the listing cache, or, when the storage index was
    not listed (after a restart, or evicted), it is unknown at first: the
    read then asks for the range as given (S3 truncates it at the end of the
    object, and answers 416 past it) and learns the size from the answer's
    Content-Range, so no HEAD is needed. Only ``size()`` of such a share,
    or a read of zero bytes, costs a HEAD. A GET asks for the node's
    read-ahead window, not just the read (see ``readahead``).
    """

    def __init__(
        self, store: ShareStore, si: StorageIndex, share_number: int, size: int | None
    ) -> None:
        self._store = store
        self._si = si
        self.share_number = share_number
        self._size = size
        self._key = store.keys.immutable(si, share_number)

    def _not_found(self) -> ShareNotFound:
        # The bucket disagrees with what this server knew: list the storage index again.
        self._store.missing_immutable(self._si, self._key)
        return ShareNotFound(f"no immutable share {self.share_number}")

    async def size(self) -> int:
        if self._size is None:
            info = await head_object(self._store.client, self._key)
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
        windows = self._store.read_ahead
        held = windows.lookup(self._key, offset, end)
        if held is not None:
            return held
        start, length = windows.fetch_range(offset, end - offset, self._size)
        try:
            result = await get_object(self._store.client, self._key, offset=start, size=length)
        except S3Error as e:
            if e.not_found:
                raise self._not_found() from None
            raise
        if self._size is None and result.total_size is not None:
            self._size = result.total_size
        body = result.body
        if start == offset and len(body) <= end - offset:
            return body
        windows.store(self._key, start, body)
        return body[offset - start : end - start]
