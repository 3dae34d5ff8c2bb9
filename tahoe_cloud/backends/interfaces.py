"""The interfaces a storage backend implements.

A backend stores shares and their leases; it does not enforce the storage
protocol. Everything a client could get wrong (secrets, overlapping writes,
sizes, space, the order of reads and writes in a read-test-write) is checked
once, above this boundary, by ``tahoe_cloud.server``. Backends stay small and
cannot each get those rules wrong.

Conventions every backend follows:

- Asynchronous: every method that may do I/O is an ``async def`` coroutine
  (the core awaits it; a backend may ``await`` Deferreds inside). Methods
  documented as "no I/O" are plain and cheap. A local disk answers in
  microseconds and an object store in 20-100 ms; the interface is shaped for
  the slow one: no listing where a cheaper path exists, ranged reads, and
  whole-storage-index lease operations so an object store can do each in a
  constant number of requests.
- Streaming: data moves in pieces (the core passes at most about 1 MiB per
  call); no method needs a whole share in memory.
- Locking is the core's job: for one storage index the core never runs two
  mutating calls (upload publish, mutable write, lease write, delete) at
  once, so a backend needs no locks of its own for that. Reads may run
  concurrently with anything.
- Errors: ``ShareNotFound`` for a missing share, ``BackendUnavailable`` for
  a transient fault, ``BackendError`` for any other failure. Never a bare
  ``KeyError``, ``OSError`` or an HTTP-client exception.
- Validation: storage indexes arrive as ``StorageIndex``, share numbers as
  ints already checked by ``validate_share_number``, leases, write enablers
  and write vectors as the checked values of ``tahoe_cloud.vocabulary``; a
  backend may rely on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from zope.interface import Attribute, Interface

from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex, WriteEnabler, WriteVector


class ShareSetClosed(RuntimeError):
    """A share set (or a mutable share handle it gave out) was used after its block.

    Always a bug in the caller: what the share set remembered may no longer
    be true once the block has ended.
    """


class IStorageBackend(Interface):
    """Where the shares of one storage server live."""

    name = Attribute("The registry name of this backend, e.g. 'disk' or 'cloud.s3'.")

    maximum_mutable_share_size = Attribute(
        "The largest mutable share (in bytes) this backend can hold; reported by the version call."
    )

    async def start() -> None:
        """Prepare for service before the server listens.

        Checks the storage is reachable and usable, and cleans what a crash may
        have left (unfinished uploads). Raises ``ConfigError`` or
        ``BackendError`` with a message an operator can act on.
        """

    async def stop() -> None:
        """Release resources (connection pools, thread pools). Called once, at shutdown."""

    def shareset(storage_index: StorageIndex) -> AbstractAsyncContextManager[IShareSet]:
        """The ``IShareSet`` of one storage index, for one operation.

        Used as ``async with backend.shareset(storage_index) as shares:``, one
        block per operation (one request, or one locked read-test-write).
        Entering does no I/O and never fails for a valid index. Inside the
        block the share set may remember what it has read (a listing, parsed
        containers, a lease document) and must keep that true after its own
        writes: the disk and S3 backends save requests that way. On exit the
        share set is closed: it forgets what it remembered, and a further use
        of it, or of a mutable share handle it gave out, raises
        ``ShareSetClosed`` rather than answer from stale memory. An upload it
        started (``start_immutable_upload``) outlives the block, as an upload
        spans many requests, so it must not depend on the share set's memory.
        """

    async def available_space() -> int:
        """Bytes this backend can still accept for new shares.

        Already net of anything the backend itself reserves (the disk
        backend's ``reserved_space``, an S3 quota). The core further subtracts
        the space promised to uploads in progress. Never negative.
        """

    async def add_corruption_advisory(
        kind: ShareKind, storage_index: StorageIndex, share_number: int, reason: bytes
    ) -> None:
        """Durably record a client's report that a share looks corrupt.

        ``kind`` is a ``ShareKind``; ``reason`` is the client's text (UTF-8
        bytes, at most ``MAX_CORRUPTION_REASON_BYTES``, already checked).
        Storing it must not change the share.
        """


class IShareSet(Interface):
    """All shares of one storage index, immutable and mutable."""

    storage_index = Attribute("The ``StorageIndex`` these shares belong to.")

    async def list_shares() -> dict[int, ShareKind]:
        """Share number -> kind, for every COMPLETED share of this storage index.

        Uploads in progress are not listed. One listing of the storage index
        (one directory read, one paginated object-store LIST).
        """

    async def open_immutable(share_number: int) -> IImmutableShare:
        """Return the ``IImmutableShare`` for a completed share, or raise ``ShareNotFound``.

        A backend that already knows the share exists (from ``list_shares``)
        should need no further request here. A backend that does not know
        may return a handle without asking its storage, and raise
        ``ShareNotFound`` from the handle's first ``size()`` or ``read()``
        instead: an object store can learn "missing" from the same ranged GET
        that would have read the data.
        """

    async def start_immutable_upload(share_number: int, allocated_size: int) -> IImmutableUpload:
        """Begin a new upload and return its ``IImmutableUpload``.

        The upload is invisible (``list_shares`` does not show it, reads do not
        find it) until ``publish()``. The core calls this only when no completed
        share and no other upload exists for that share number.
        """

    async def open_mutable(share_number: int) -> IMutableShare:
        """Return the ``IMutableShare`` of an existing share, or raise ``ShareNotFound``."""

    def new_mutable(share_number: int, write_enabler: WriteEnabler) -> IMutableShare:
        """Return an ``IMutableShare`` handle for a share that does not exist yet. No I/O.

        ``write_enabler`` is a ``WriteEnabler``. Nothing is stored until the
        handle's first ``write()``, which creates the share with that write
        enabler; until then the share does not exist for ``list_shares``.
        """

    async def read_leases() -> dict[int, list[Lease]]:
        """Share number -> list of ``Lease``, for every completed share.

        A constant number of requests for an object store (not one per share).
        """

    async def write_leases(leases: Mapping[int, Sequence[Lease]]) -> None:
        """Replace the leases of the shares named in ``leases`` (share number -> list of ``Lease``).

        Shares not named keep theirs. The core passes leases with clear
        secrets for new leases; the backend decides how to store them (hashed
        where its format allows, as upstream's version-2 containers do).
        Atomic per share. Raises when the leases could not be stored: the
        core then fails the request (a renewal is never a silent no-op).
        """

    async def delete_share(share_number: int) -> None:
        """Delete one completed share with its leases; deleting a missing share is not an error."""


class IImmutableUpload(Interface):
    """An immutable share being uploaded: bytes land in a staging area, invisible to readers."""

    share_number = Attribute("The share number.")
    allocated_size = Attribute("The exact size the finished share will have.")

    async def write(offset: int, data: bytes) -> None:
        """Store ``data`` (bytes) at ``offset``. The core has checked the bounds and overlaps."""

    async def read(offset: int, size: int) -> bytes:
        """Read back staged bytes, so the core can compare overlapping writes."""

    async def publish(leases: Sequence[Lease]) -> None:
        """Atomically make the staged bytes a completed share holding ``leases``.

        Called once every byte in ``0..allocated_size`` has been written.
        Either the whole share becomes visible (with its leases) or, on
        failure, nothing does and the upload can still be aborted.
        """

    async def abort() -> None:
        """Discard the staged bytes, leaving nothing behind. Idempotent."""


class IImmutableShare(Interface):
    """A completed immutable share. Its bytes never change."""

    share_number = Attribute("The share number.")

    async def size() -> int:
        """The share's data length in bytes (container headers and leases excluded)."""

    async def read(offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``, truncated at the end; ``b""`` past it.

        One ranged read: an object store answers it with one ranged GET.
        """


class IMutableShare(Interface):
    """One share of a mutable slot."""

    share_number = Attribute("The share number.")

    async def write_enabler() -> WriteEnabler:
        """The ``WriteEnabler`` stored when the share was created."""

    async def size() -> int:
        """The share's data length in bytes."""

    async def read(offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``, truncated at the end; ``b""`` past it."""

    async def write(writes: Sequence[WriteVector], new_length: int | None) -> None:
        """Apply ``writes`` (a sequence of ``WriteVector``, in order) then ``new_length``.

        A write past the end zero-fills the gap; ``new_length`` (when not None)
        truncates or zero-extends the data after the writes. The core handles
        ``new_length == 0`` by deleting the share instead. After a crash the
        share reads either wholly as before or wholly as after; a backend that
        cannot promise this for some sizes says so in its documentation.
        On a handle from ``IShareSet.new_mutable`` this creates the share.
        Like its share set, a handle is used only inside the share set's block.
        The core never passes empty writes, and passes ``new_length`` only when
        it is smaller than the length after the writes (upstream never extends
        through ``new_length``).
        """
