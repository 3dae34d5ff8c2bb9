"""Immutable uploads: allocation, out-of-order writes, publication, abort and idle timeout.

An upload is created by allocate and lives here until every byte has been
written (then the backend publishes it as a completed share), the client
aborts it, it sits idle for ``timeout`` seconds, or the server stops. The
upload secret given at allocation is the only key to it. The rules enforced
(once, for every backend):

- writes may arrive in any order and repeat; a write overlapping received
  bytes must carry the same bytes there (else ``ConflictingWrite`` and nothing
  is stored); a write past the allocated size is ``WriteBeyondAllocation``;
- writes to one upload are serialised (its own lock), so the overlap check and
  the store cannot interleave with another write; publication also takes the
  storage index's lock, as every mutating backend call does;
- a second allocate of a share already being uploaded leaves it out of both
  answer sets and does not check the upload secret, as upstream's HTTP server
  does (the first upload stays the only one);
- uploads in progress are capped on the server and per client address
  (``tahoe_cloud.server.limits``): an allocate that would pass a cap is
  refused whole, so never-written allocations cannot pile up. The bytes they
  are owed, their count per client and per storage index are running
  figures, so neither ``/version`` nor allocate walks the uploads.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable

from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from tahoe_cloud.backends.interfaces import IImmutableUpload, IStorageBackend
from tahoe_cloud.errors import (
    ConflictingWrite,
    InvalidRequest,
    TooManyUploads,
    TooManyUploadsFromClient,
    UploadAlreadyComplete,
    UploadNotFound,
    WriteBeyondAllocation,
    WrongUploadSecret,
)
from tahoe_cloud.server.lease_policy import (
    ALLOCATE_OWNER,
    LeaseGrant,
    apply_to_shares,
    only_changed,
)
from tahoe_cloud.server.lease_store import store_leases
from tahoe_cloud.server.limits import MAX_UPLOADS, MAX_UPLOADS_PER_CLIENT
from tahoe_cloud.server.locks import StorageIndexLocks
from tahoe_cloud.server.messages import AllocationResult, ImmutableWriteResult, LeaseSecrets
from tahoe_cloud.server.received_bytes import ReceivedBytes
from tahoe_cloud.server.space import SpaceAccountant
from tahoe_cloud.vocabulary import ShareKind, StorageIndex, validate_share_number

log = Logger()

DEFAULT_UPLOAD_TIMEOUT = 30 * 60

GrantFactory = Callable[[LeaseSecrets, int], LeaseGrant]


class _Upload:
    """State of one upload in progress. Holds secrets: never shown by ``repr``."""

    def __init__(
        self,
        storage_index: StorageIndex,
        handle: IImmutableUpload,
        *,
        share_number: int,
        allocated_size: int,
        upload_secret: bytes,
        lease: LeaseSecrets,
        client: str | None,
    ) -> None:
        self.storage_index = storage_index
        self.client = client
        self.share_number = share_number
        self.allocated_size = allocated_size
        self.handle = handle
        self.upload_secret = upload_secret
        self.lease = lease
        self.received = ReceivedBytes()
        self.lock = DeferredLock()
        self.timer: IDelayedCall | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"<upload {self.storage_index.text}/{self.share_number}>"

    @property
    def owed(self) -> int:
        """Bytes promised to this upload and not yet received."""
        return self.allocated_size - self.received.total

    def secret_matches(self, presented: bytes) -> bool:
        return hmac.compare_digest(self.upload_secret, presented)


class ImmutableUploads:
    """All immutable uploads in progress on one server, and the rules for them."""

    def __init__(
        self,
        backend: IStorageBackend,
        locks: StorageIndexLocks,
        clock: IReactorTime,
        *,
        grant: GrantFactory,
        readonly: bool,
        timeout: float = DEFAULT_UPLOAD_TIMEOUT,
        max_uploads: int = MAX_UPLOADS,
        max_uploads_per_client: int = MAX_UPLOADS_PER_CLIENT,
    ) -> None:
        self._backend = backend
        #: The caps (``tahoe_cloud.server.limits``); tests may lower them.
        self.max_uploads = max_uploads
        self.max_uploads_per_client = max_uploads_per_client
        self._locks = locks
        self._clock = clock
        self._grant = grant
        self._readonly = readonly
        self._timeout = timeout
        self._uploads: dict[tuple[StorageIndex, int], _Upload] = {}
        self._by_index: dict[StorageIndex, set[int]] = {}
        self._per_client: Counter[str | None] = Counter()
        self._promised = 0
        self._expiring: set[Deferred[None]] = set()
        self.space = SpaceAccountant(backend, readonly=readonly, promised=self.promised)

    def promised(self) -> int:
        """Bytes owed to uploads in progress (allocated, not yet received)."""
        return self._promised

    def count(self, client: str | None = None) -> int:
        """Uploads in progress: all of them, or those started from ``client``."""
        return len(self._uploads) if client is None else self._per_client[client]

    def in_progress(self, storage_index: StorageIndex) -> frozenset[int]:
        """Share numbers of this storage index being uploaded."""
        return frozenset(self._by_index.get(storage_index, ()))

    def _check_room(self, wanted: int, client: str | None) -> None:
        """Refuse ``wanted`` new uploads from ``client`` if they would pass a cap."""
        if len(self._uploads) + wanted > self.max_uploads:
            raise TooManyUploads(
                f"this server already has {len(self._uploads)} uploads in progress"
                f" (at most {self.max_uploads}); try again later"
            )
        if client is not None and self._per_client[client] + wanted > self.max_uploads_per_client:
            raise TooManyUploadsFromClient(
                f"this client already has {self._per_client[client]} uploads in progress"
                f" (at most {self.max_uploads_per_client}); finish or abort some first"
            )

    def _add(self, upload: _Upload) -> None:
        self._uploads[upload.storage_index, upload.share_number] = upload
        self._by_index.setdefault(upload.storage_index, set()).add(upload.share_number)
        self._per_client[upload.client] += 1
        self._promised += upload.allocated_size

    async def allocate(
        self,
        storage_index: StorageIndex,
        *,
        lease: LeaseSecrets,
        upload_secret: bytes,
        share_numbers: frozenset[int],
        allocated_size: int,
        client: str | None = None,
    ) -> AllocationResult:
        """Start uploads; ``client`` (its address) is what the per-client cap counts."""
        for shnum in share_numbers:
            validate_share_number(shnum)
        if isinstance(allocated_size, bool) or not isinstance(allocated_size, int):
            raise InvalidRequest("allocated size must be an integer")
        if allocated_size < 0:
            raise InvalidRequest("allocated size must not be negative")
        async with self._locks.hold(storage_index), self._backend.shareset(storage_index) as shares:
            listing = await shares.list_shares()
            have = frozenset(n for n, kind in listing.items() if kind is ShareKind.IMMUTABLE)
            if have:
                # The client wants these kept too: add or renew its lease on them.
                leases = await shares.read_leases()
                grant = self._grant(lease, ALLOCATE_OWNER)
                changed = only_changed(leases, apply_to_shares(leases, have, grant))
                if changed:
                    await store_leases(shares, storage_index, changed, "allocate")
            if self._readonly:
                return AllocationResult(already_have=have, allocated=frozenset())
            remaining = await self.space.available()
            wanted = []
            for shnum in sorted(share_numbers):
                if shnum in listing or (storage_index, shnum) in self._uploads:
                    continue
                if allocated_size > remaining:
                    continue  # does not fit: silently left out, as upstream does
                remaining -= allocated_size
                wanted.append(shnum)
            self._check_room(len(wanted), client)
            for shnum in wanted:
                # The upload outlives this block: it spans the client's writes.
                handle = await shares.start_immutable_upload(shnum, allocated_size)
                upload = _Upload(
                    storage_index,
                    handle,
                    share_number=shnum,
                    allocated_size=allocated_size,
                    upload_secret=upload_secret,
                    lease=lease,
                    client=client,
                )
                self._add(upload)
                upload.timer = self._clock.callLater(self._timeout, self._expire, upload)
        return AllocationResult(already_have=have, allocated=frozenset(wanted))

    def _find(self, storage_index: StorageIndex, share_number: int, secret: bytes) -> _Upload:
        upload = self._uploads.get((storage_index, share_number))
        if upload is None or upload.closed:
            raise UploadNotFound(f"no upload in progress for share {share_number}")
        if not upload.secret_matches(secret):
            raise WrongUploadSecret("wrong upload secret")
        return upload

    async def write(
        self,
        storage_index: StorageIndex,
        share_number: int,
        *,
        upload_secret: bytes,
        offset: int,
        data: bytes,
    ) -> ImmutableWriteResult:
        upload = self._find(storage_index, share_number, upload_secret)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidRequest("offset must be a non-negative integer")
        end = offset + len(data)
        if end > upload.allocated_size:
            raise WriteBeyondAllocation(
                f"write ends at {end}, past the allocated size {upload.allocated_size}"
            )
        if upload.timer is not None and upload.timer.active():
            upload.timer.reset(self._timeout)
        await upload.lock.acquire()
        try:
            if upload.closed:
                raise UploadNotFound(f"no upload in progress for share {share_number}")
            # Check every overlap before storing anything, so a refused write changes nothing.
            for begin, stop in upload.received.covered(offset, end):
                stored = await upload.handle.read(begin, stop - begin)
                if stored != data[begin - offset : stop - offset]:
                    raise ConflictingWrite(
                        f"bytes {begin}-{stop} differ from those already written"
                    )
            for begin, stop in upload.received.missing(offset, end):
                await upload.handle.write(begin, data[begin - offset : stop - offset])
                upload.received.add(begin, stop)
                self._promised -= stop - begin
            if upload.received.total < upload.allocated_size:
                return ImmutableWriteResult(
                    complete=False, required=upload.received.required(upload.allocated_size)
                )
            async with self._locks.hold(storage_index):
                lease = self._grant(upload.lease, ALLOCATE_OWNER).new_lease()
                # On failure the upload stays: a retried write publishes again, or abort.
                await upload.handle.publish([lease])
                self._close(upload)
                self._forget(upload)
            return ImmutableWriteResult(complete=True, required=())
        finally:
            upload.lock.release()

    async def abort(
        self, storage_index: StorageIndex, share_number: int, *, upload_secret: bytes
    ) -> None:
        upload = self._uploads.get((storage_index, share_number))
        if upload is None or upload.closed:
            async with self._backend.shareset(storage_index) as shares:
                listing = await shares.list_shares()
            if listing.get(share_number) is ShareKind.IMMUTABLE:
                raise UploadAlreadyComplete(f"share {share_number} is already complete")
            raise UploadNotFound(f"no upload in progress for share {share_number}")
        if not upload.secret_matches(upload_secret):
            raise WrongUploadSecret("wrong upload secret")
        await self._discard(upload)

    def _close(self, upload: _Upload) -> None:
        """Refuse further writes to an upload (published or being discarded); stop its timer."""
        upload.closed = True
        if upload.timer is not None and upload.timer.active():
            upload.timer.cancel()
        upload.timer = None

    def _forget(self, upload: _Upload) -> None:
        key = (upload.storage_index, upload.share_number)
        if self._uploads.get(key) is not upload:
            return
        del self._uploads[key]
        shares = self._by_index[upload.storage_index]
        shares.discard(upload.share_number)
        if not shares:
            del self._by_index[upload.storage_index]
        self._per_client[upload.client] -= 1
        if not self._per_client[upload.client]:
            del self._per_client[upload.client]
        self._promised -= upload.owed

    async def _discard(self, upload: _Upload) -> None:
        # Wait for a write in progress: its bytes must not land after the abort.
        await upload.lock.acquire()
        try:
            if upload.closed:
                return
            self._close(upload)
            try:
                await upload.handle.abort()
            finally:
                # Only now may the share number be allocated again: a new upload
                # must not race the removal of this one's staged bytes.
                self._forget(upload)
        finally:
            upload.lock.release()

    def _expire(self, upload: _Upload) -> None:
        upload.timer = None
        log.info("aborting idle upload {upload!r}", upload=upload)
        d = Deferred.fromCoroutine(self._discard(upload))
        self._expiring.add(d)

        def failed(failure: Failure) -> None:
            log.failure("aborting idle upload {upload!r} failed", failure, upload=upload)

        def done(result: object) -> None:
            self._expiring.discard(d)

        d.addErrback(failed)
        d.addBoth(done)

    async def abort_all(self) -> None:
        """Abort every upload in progress (server shutdown); failures are logged, not raised."""
        for upload in list(self._uploads.values()):
            try:
                await self._discard(upload)
            except Exception:  # noqa: BLE001 - one failure must not spare the others
                log.failure("aborting {upload!r} at shutdown failed", upload=upload)
        for d in list(self._expiring):
            await d
