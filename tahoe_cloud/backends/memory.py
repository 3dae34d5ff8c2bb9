"""An in-memory backend: the interfaces' contracts with nothing in the way.

Used by fast tests and the conformance suite, and registered as the ``memory``
backend (handy for trying a node; everything is lost when it stops). It is
kept honest to the contracts so tests against it mean something:

- uploads stage their bytes apart and are invisible until ``publish()``;
- mutable writes build the new bytes aside and swap them in at once (atomic);
- bytes and leases are copied in and out, never aliased to a caller's object;
- a share set refuses to be used after its ``shareset()`` block, as the disk
  backend's does (it has nothing to forget, but a caller relying on it here
  would break there);
- new leases are stored hashed, as upstream's version-2 containers do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from attrs import define, field
from zope.interface import implementer

from tahoe_cloud.backends.capabilities import IShareEnumeration, StoredIndex, enumeration_key
from tahoe_cloud.backends.interfaces import (
    IImmutableShare,
    IImmutableUpload,
    IMutableShare,
    IShareSet,
    IStorageBackend,
    ShareSetClosed,
)
from tahoe_cloud.backends.plugin import BackendPlugin
from tahoe_cloud.errors import BackendError, ShareNotFound
from tahoe_cloud.vocabulary import (
    MAX_MUTABLE_SHARE_SIZE,
    Lease,
    ShareKind,
    StorageIndex,
    WriteEnabler,
    WriteVector,
)

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

DEFAULT_CAPACITY = 2**40


@define
class _Stored:
    """One completed share. ``data`` is replaced, never mutated in place."""

    kind: ShareKind
    data: bytes
    leases: list[Lease] = field(factory=list)
    write_enabler: WriteEnabler | None = None


@define
class CorruptionAdvisory:
    kind: ShareKind
    storage_index: StorageIndex
    share_number: int
    reason: bytes


#: Storage indexes per batch of ``MemoryBackend.storage_indexes``.
MEMORY_BATCH = 1000


@implementer(IStorageBackend, IShareEnumeration)
class MemoryBackend:
    """Shares in dictionaries; ``capacity`` bounds the bytes held (stored plus staged)."""

    name = "memory"

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        maximum_mutable_share_size: int = MAX_MUTABLE_SHARE_SIZE,
    ) -> None:
        self.capacity = capacity
        self.maximum_mutable_share_size = maximum_mutable_share_size
        self.shares: dict[StorageIndex, dict[int, _Stored]] = {}
        self.staged: dict[tuple[StorageIndex, int], bytearray] = {}
        self.advisories: list[CorruptionAdvisory] = []
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        # Like the disk backend's start-up clean of incoming/: no staged upload survives.
        self.staged.clear()
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    @asynccontextmanager
    async def shareset(self, storage_index: StorageIndex) -> AsyncIterator[MemoryShareSet]:
        shareset = MemoryShareSet(self, storage_index)
        try:
            yield shareset
        finally:
            shareset.closed = True

    def used(self) -> int:
        stored = sum(len(s.data) for shares in self.shares.values() for s in shares.values())
        return stored + sum(len(b) for b in self.staged.values())

    async def available_space(self) -> int:
        return max(0, self.capacity - self.used())

    async def add_corruption_advisory(
        self, kind: ShareKind, storage_index: StorageIndex, share_number: int, reason: bytes
    ) -> None:
        self.advisories.append(CorruptionAdvisory(kind, storage_index, share_number, bytes(reason)))

    async def storage_indexes(
        self, after: StorageIndex | None = None
    ) -> AsyncIterator[list[StoredIndex]]:
        """``IShareEnumeration``: a sorted snapshot of the names, batched; ``leases_modified`` None.

        A storage index deleted after the snapshot is left out of its batch.
        """
        start = "" if after is None else enumeration_key(after)
        names = sorted(
            (si for si, shares in self.shares.items() if shares and enumeration_key(si) > start),
            key=enumeration_key,
        )
        for i in range(0, len(names), MEMORY_BATCH):
            batch = [StoredIndex(si) for si in names[i : i + MEMORY_BATCH] if self.shares.get(si)]
            if batch:
                yield batch

    def _get(self, storage_index: StorageIndex, share_number: int, kind: ShareKind) -> _Stored:
        stored = self.shares.get(storage_index, {}).get(share_number)
        if stored is None or stored.kind is not kind:
            raise ShareNotFound(f"no {kind.value} share {share_number} for this storage index")
        return stored

    def _put(self, storage_index: StorageIndex, share_number: int, stored: _Stored) -> None:
        self.shares.setdefault(storage_index, {})[share_number] = stored


def _read(data: bytes | bytearray, offset: int, size: int) -> bytes:
    return bytes(data[offset : offset + size])


@implementer(IShareSet)
class MemoryShareSet:
    def __init__(self, backend: MemoryBackend, storage_index: StorageIndex) -> None:
        self._store = backend
        self.storage_index = storage_index
        self.closed = False

    @property
    def _backend(self) -> MemoryBackend:
        """The backend, while the share set's block lasts: every method goes through here."""
        if self.closed:
            raise ShareSetClosed("a share set was used after its block")
        return self._store

    async def list_shares(self) -> dict[int, ShareKind]:
        shares = self._backend.shares.get(self.storage_index, {})
        return {n: s.kind for n, s in shares.items()}

    async def open_immutable(self, share_number: int) -> MemoryImmutableShare:
        self._backend._get(self.storage_index, share_number, ShareKind.IMMUTABLE)
        return MemoryImmutableShare(self._backend, self.storage_index, share_number)

    async def start_immutable_upload(
        self, share_number: int, allocated_size: int
    ) -> MemoryImmutableUpload:
        key = (self.storage_index, share_number)
        if key in self._backend.staged:
            raise BackendError("an upload of this share is already staged")
        self._backend.staged[key] = bytearray()
        return MemoryImmutableUpload(
            self._backend, self.storage_index, share_number, allocated_size
        )

    async def open_mutable(self, share_number: int) -> MemoryMutableShare:
        self._backend._get(self.storage_index, share_number, ShareKind.MUTABLE)
        return MemoryMutableShare(self._backend, self.storage_index, share_number, None)

    def new_mutable(self, share_number: int, write_enabler: WriteEnabler) -> MemoryMutableShare:
        return MemoryMutableShare(self._backend, self.storage_index, share_number, write_enabler)

    async def read_leases(self) -> dict[int, list[Lease]]:
        shares = self._backend.shares.get(self.storage_index, {})
        return {n: list(s.leases) for n, s in shares.items()}

    async def write_leases(self, leases: Mapping[int, Sequence[Lease]]) -> None:
        shares = self._backend.shares.get(self.storage_index, {})
        for n, share_leases in leases.items():
            if n in shares:
                shares[n].leases = [lease.to_hashed() for lease in share_leases]

    async def delete_share(self, share_number: int) -> None:
        shares = self._backend.shares.get(self.storage_index)
        if shares is not None:
            shares.pop(share_number, None)
            if not shares:
                del self._backend.shares[self.storage_index]


@implementer(IImmutableUpload)
class MemoryImmutableUpload:
    def __init__(
        self, backend: MemoryBackend, storage_index: StorageIndex, share_number: int, size: int
    ) -> None:
        self._backend = backend
        self._key = (storage_index, share_number)
        self.share_number = share_number
        self.allocated_size = size

    def _staged(self) -> bytearray:
        staged = self._backend.staged.get(self._key)
        if staged is None:
            raise BackendError("this upload was aborted")
        return staged

    async def write(self, offset: int, data: bytes) -> None:
        staged = self._staged()
        if offset > len(staged):
            staged.extend(bytes(offset - len(staged)))
        staged[offset : offset + len(data)] = data

    async def read(self, offset: int, size: int) -> bytes:
        return _read(self._staged(), offset, size)

    async def publish(self, leases: Sequence[Lease]) -> None:
        staged = self._staged()
        if len(staged) != self.allocated_size:
            raise BackendError("publish of an incomplete upload")
        stored = _Stored(
            ShareKind.IMMUTABLE, bytes(staged), [lease.to_hashed() for lease in leases]
        )
        del self._backend.staged[self._key]
        self._backend._put(self._key[0], self.share_number, stored)

    async def abort(self) -> None:
        self._backend.staged.pop(self._key, None)


@implementer(IImmutableShare)
class MemoryImmutableShare:
    def __init__(
        self, backend: MemoryBackend, storage_index: StorageIndex, share_number: int
    ) -> None:
        self._backend = backend
        self._storage_index = storage_index
        self.share_number = share_number

    def _stored(self) -> _Stored:
        return self._backend._get(self._storage_index, self.share_number, ShareKind.IMMUTABLE)

    async def size(self) -> int:
        return len(self._stored().data)

    async def read(self, offset: int, size: int) -> bytes:
        return _read(self._stored().data, offset, size)


@implementer(IMutableShare)
class MemoryMutableShare:
    def __init__(
        self,
        backend: MemoryBackend,
        storage_index: StorageIndex,
        share_number: int,
        new_write_enabler: WriteEnabler | None,
    ) -> None:
        self._backend = backend
        self._storage_index = storage_index
        self.share_number = share_number
        # Set only on a handle from new_mutable, until its first write creates the share.
        self._new_write_enabler = new_write_enabler

    def _stored(self) -> _Stored:
        return self._backend._get(self._storage_index, self.share_number, ShareKind.MUTABLE)

    async def write_enabler(self) -> WriteEnabler:
        if self._new_write_enabler is not None:
            return self._new_write_enabler
        enabler = self._stored().write_enabler
        assert enabler is not None
        return enabler

    async def size(self) -> int:
        if self._new_write_enabler is not None:
            return 0
        return len(self._stored().data)

    async def read(self, offset: int, size: int) -> bytes:
        if self._new_write_enabler is not None:
            return b""
        return _read(self._stored().data, offset, size)

    async def write(self, writes: Sequence[WriteVector], new_length: int | None) -> None:
        if self._new_write_enabler is not None:
            stored = _Stored(ShareKind.MUTABLE, b"", [], self._new_write_enabler)
        else:
            stored = self._stored()
        data = bytearray(stored.data)
        for wv in writes:
            if wv.offset > len(data):
                data.extend(bytes(wv.offset - len(data)))
            data[wv.offset : wv.offset + len(wv.data)] = wv.data
        if new_length is not None:
            del data[new_length:]
            data.extend(bytes(new_length - len(data)))
        end = len(data)
        if end > self._backend.maximum_mutable_share_size:
            raise BackendError("mutable share too large")
        # Swap in the new bytes in one step: readers see all of the write or none.
        stored.data = bytes(data)
        if self._new_write_enabler is not None:
            self._backend._put(self._storage_index, self.share_number, stored)
            self._new_write_enabler = None


def create_backend(config: NodeConfig) -> MemoryBackend:
    """Entry point ``memory``: an empty in-memory backend (the configuration is not used)."""
    return MemoryBackend()


#: Entry point ``memory``: no capabilities (``check`` starts and stops it).
plugin = BackendPlugin(name="memory", factory=create_backend)
