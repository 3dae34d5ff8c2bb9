"""Available-space accounting for new immutable shares.

The backend reports what it can still accept (already net of its own reserve).
Uploads in progress have been promised ``allocated_size`` bytes, of which the
bytes already received are in the backend's own figure (they sit in its
staging area); the rest is still owed, so a new allocation must not count on
it. Read-only mode reports no space at all, as upstream does.
"""

from __future__ import annotations

from collections.abc import Callable

from tahoe_cloud.backends.interfaces import IStorageBackend


class SpaceAccountant:
    """Computes the space a new allocation may use."""

    def __init__(
        self, backend: IStorageBackend, *, readonly: bool, promised: Callable[[], int]
    ) -> None:
        """``promised`` returns the bytes owed to uploads in progress and not yet received."""
        self._backend = backend
        self._readonly = readonly
        self._promised = promised

    async def available(self) -> int:
        """Bytes a new immutable share may still take; 0 in read-only mode; never negative."""
        if self._readonly:
            return 0
        backend_space = await self._backend.available_space()
        return max(0, int(backend_space) - self._promised())
