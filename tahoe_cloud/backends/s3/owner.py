"""What a share or an upload needs of the share set that opened it.

Uploads and mutable shares store leases and report new shares through
their share set; they name it by this protocol, not by its class, so the
share set can import them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tahoe_cloud.backends.s3.store import ShareStore
from tahoe_cloud.vocabulary import Lease, ShareKind, StorageIndex


class ShareOwner(Protocol):
    """The share set of one storage index, as its shares and uploads see it."""

    @property
    def storage_index(self) -> StorageIndex: ...

    @property
    def store(self) -> ShareStore: ...

    def note_published(self, share_number: int, kind: ShareKind) -> None:
        """A share of this storage index appeared (or was rewritten) by this server."""

    async def set_leases_of(self, share_number: int, leases: Sequence[Lease]) -> None:
        """Store the leases of a share about to appear."""
