"""Mutable read-test-write: the one write operation on mutable slots.

Upstream's semantics (allmydata/storage/server.py, slot_testv_and_readv_and_writev),
run atomically under the storage index's lock:

1. every existing mutable share of the slot must carry the presented write
   enabler, else ``WrongWriteEnabler`` and nothing happens (upstream checks
   all shares of the slot, even those the request does not write);
2. test vectors compare, with equality only, ``size`` bytes read at
   ``offset`` (truncated at the end of the share, so a specimen shorter than
   ``size`` matches only a share that ends there; a missing share reads as
   ``b""``, so only an empty specimen matches it);
3. the read vector is applied to EVERY existing share, before any write
   (what it would return is summed first from the shares' sizes: past
   ``MAX_READ_ANSWER`` the request is refused before anything is read);
4. only if every test passed: writes are applied in order (holes zero-filled),
   then ``new_length`` truncates; upstream never extends a share through
   ``new_length``, so a larger value is ignored; ``new_length == 0`` deletes
   the share. A share named in the request is created even when it has no
   write vectors (as upstream does). The written shares that still exist get
   the client's lease added or renewed.

Sizes are checked before anything is written, so a refused request changes nothing.
A test vector reads at most one byte more than its specimen (more could not
match), so its cost is bounded by the request body, not by its ``size``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from tahoe_cloud.backends.interfaces import IMutableShare, IStorageBackend
from tahoe_cloud.errors import AnswerTooLarge, InvalidRequest, ShareTooLarge, WrongWriteEnabler
from tahoe_cloud.server.lease_policy import LeaseGrant, apply_to_shares, only_changed
from tahoe_cloud.server.lease_store import store_leases
from tahoe_cloud.server.limits import MAX_READ_ANSWER, MAX_WRITE_VECTORS
from tahoe_cloud.server.locks import StorageIndexLocks
from tahoe_cloud.server.messages import ReadTestWriteResult, ReadVector, TestWriteVectors
from tahoe_cloud.vocabulary import (
    MAX_READ_VECTORS,
    MAX_SHARES_PER_REQUEST,
    MAX_TEST_VECTORS,
    ShareKind,
    StorageIndex,
    WriteEnabler,
    WriteVector,
    validate_share_number,
)


def validate_request(
    vectors: Mapping[int, TestWriteVectors], read_vector: Sequence[ReadVector]
) -> None:
    """Refuse oversized requests with ``InvalidRequest``.

    Offsets, sizes and lengths were checked when the vectors were made.
    """
    if len(vectors) > MAX_SHARES_PER_REQUEST:
        raise InvalidRequest(f"at most {MAX_SHARES_PER_REQUEST} shares per request")
    if len(read_vector) > MAX_READ_VECTORS:
        raise InvalidRequest(f"at most {MAX_READ_VECTORS} read vectors")
    if sum(len(twv.writes) for twv in vectors.values()) > MAX_WRITE_VECTORS:
        raise InvalidRequest(f"at most {MAX_WRITE_VECTORS} write vectors per request")
    for shnum, twv in vectors.items():
        validate_share_number(shnum)
        if len(twv.tests) > MAX_TEST_VECTORS:
            raise InvalidRequest(f"at most {MAX_TEST_VECTORS} test vectors per share")


def normalise_writes(writes: Sequence[WriteVector], length: int) -> tuple[WriteVector, ...]:
    """The writes with no empty one left, same effect on a share of ``length`` bytes.

    Upstream extends a share to ``offset`` even for an empty write past its end.
    Rather than have every backend get that corner right, such a write becomes
    one zero byte at ``offset - 1`` (inside the zero-filled gap, so the same
    result); an empty write inside the data does nothing and is dropped.
    """
    result = []
    for wv in writes:
        if wv.data:
            result.append(wv)
        elif wv.offset > length:
            result.append(WriteVector(wv.offset - 1, b"\x00"))
        length = max(length, wv.offset + len(wv.data))
    return tuple(result)


async def _tests_pass(share: IMutableShare | None, twv: TestWriteVectors) -> bool:
    for tv in twv.tests:
        if tv.size < len(tv.specimen):
            return False  # the read could not return the whole specimen
        # A read returning more than the specimen cannot match: read one byte more at most.
        want = min(tv.size, len(tv.specimen) + 1)
        data = await share.read(tv.offset, want) if share is not None else b""
        if data != tv.specimen:
            return False
    return True


async def _answer_size(shares: Sequence[IMutableShare], read_vector: Sequence[ReadVector]) -> int:
    """Bytes the read vector returns from ``shares``, from their sizes alone."""
    total = 0
    for share in shares:
        length = await share.size()
        total += sum(min(rv.size, max(0, length - rv.offset)) for rv in read_vector)
    return total


class MutableSlots:
    """Read-test-write on the mutable slots of one server."""

    def __init__(
        self,
        backend: IStorageBackend,
        locks: StorageIndexLocks,
        *,
        nodeid: bytes,
        maximum_share_size: int,
        uploading: Callable[[StorageIndex], frozenset[int]] = lambda si: frozenset(),
    ) -> None:
        """``uploading`` names the share numbers with an immutable upload in progress."""
        self._backend = backend
        self._maximum_share_size = maximum_share_size
        self._locks = locks
        self._nodeid = nodeid
        self._uploading = uploading
        self._running: Counter[StorageIndex] = Counter()

    def in_progress(self, storage_index: StorageIndex) -> bool:
        """Whether a read-test-write of this storage index is running or waiting for its lock."""
        return self._running[storage_index] > 0

    async def read_test_write(
        self,
        storage_index: StorageIndex,
        *,
        write_enabler: bytes,
        grant: LeaseGrant,
        vectors: Mapping[int, TestWriteVectors],
        read_vector: Sequence[ReadVector],
    ) -> ReadTestWriteResult:
        """One read-test-write, counted in ``in_progress`` from its call to its answer."""
        self._running[storage_index] += 1
        try:
            return await self._read_test_write(
                storage_index,
                write_enabler=write_enabler,
                grant=grant,
                vectors=vectors,
                read_vector=read_vector,
            )
        finally:
            self._running[storage_index] -= 1
            if not self._running[storage_index]:
                del self._running[storage_index]

    async def _read_test_write(
        self,
        storage_index: StorageIndex,
        *,
        write_enabler: bytes,
        grant: LeaseGrant,
        vectors: Mapping[int, TestWriteVectors],
        read_vector: Sequence[ReadVector],
    ) -> ReadTestWriteResult:
        validate_request(vectors, read_vector)
        max_size = self._maximum_share_size
        for twv in vectors.values():
            end = max((wv.offset + len(wv.data) for wv in twv.writes), default=0)
            if end > max_size:
                raise ShareTooLarge(f"a mutable share may hold at most {max_size} bytes")
        async with self._locks.hold(storage_index), self._backend.shareset(storage_index) as shares:
            listing = await shares.list_shares()
            uploading = self._uploading(storage_index)
            for shnum in vectors:
                if listing.get(shnum) is ShareKind.IMMUTABLE or shnum in uploading:
                    raise InvalidRequest(f"share {shnum} of this storage index is immutable")
            existing: dict[int, IMutableShare] = {}
            for shnum in sorted(n for n, kind in listing.items() if kind is ShareKind.MUTABLE):
                existing[shnum] = await shares.open_mutable(shnum)
            for share in existing.values():
                stored = await share.write_enabler()
                if not stored.matches(write_enabler):
                    raise WrongWriteEnabler("wrong write enabler")
            answer = await _answer_size(list(existing.values()), read_vector)
            if answer > MAX_READ_ANSWER:
                raise AnswerTooLarge(
                    f"the read vectors ask for {answer} bytes of share data;"
                    f" at most {MAX_READ_ANSWER} per request"
                )

            success = True
            for shnum in sorted(vectors):
                if not await _tests_pass(existing.get(shnum), vectors[shnum]):
                    success = False
                    break
            reads: dict[int, tuple[bytes, ...]] = {}
            for shnum, share in existing.items():
                reads[shnum] = tuple([await share.read(rv.offset, rv.size) for rv in read_vector])
            if not success:
                return ReadTestWriteResult(success=False, data=reads)

            written = set()
            for shnum in sorted(vectors):
                twv = vectors[shnum]
                if twv.new_length == 0:
                    if shnum in existing:
                        await shares.delete_share(shnum)
                    continue
                share_or_none = existing.get(shnum)
                if share_or_none is None:
                    share = shares.new_mutable(shnum, WriteEnabler(self._nodeid, write_enabler))
                    length = 0
                else:
                    share = share_or_none
                    length = await share.size()
                end = max([length] + [wv.offset + len(wv.data) for wv in twv.writes])
                # Upstream only ever truncates through new_length.
                new_length = (
                    twv.new_length if twv.new_length is not None and twv.new_length < end else None
                )
                await share.write(normalise_writes(twv.writes, length), new_length)
                written.add(shnum)
            if written:
                leases = await shares.read_leases()
                changed = only_changed(leases, apply_to_shares(leases, written, grant))
                if changed:
                    await store_leases(shares, storage_index, changed, "a mutable write")
            return ReadTestWriteResult(success=True, data=reads)
