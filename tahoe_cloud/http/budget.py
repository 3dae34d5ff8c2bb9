"""Server-wide byte budgets: bounds on memory that no single request's limit gives.

A per-request limit bounds one request; a client opening many connections
multiplies it. So the bytes held in memory across all requests are counted
here, in three budgets owned by the site and its resource:

- ``ByteBudget`` for answer bytes read from shares and not yet sent (a
  client that asks and never reads pins them): a read waits for room before
  reading, and gives its bytes back once the connection has taken them;
- the same class, used without waiting (``try_take``), for request bodies
  held in memory: a body that does not fit is spooled to a temporary file
  instead (twisted's own way for large bodies), so memory stays bounded and
  no client is refused;
- and, waiting, for the pieces of immutable writes between being read from
  their bodies and being written by the backend.
"""

from __future__ import annotations

from collections import deque

from twisted.internet.defer import Deferred

MiB = 1024 * 1024

#: Answer bytes read from shares and not yet taken by the connections (all clients).
ANSWER_BUDGET = 64 * MiB

#: Request bodies kept in memory (all clients); the rest go to temporary files.
BODY_BUDGET = 64 * MiB

#: Pieces of immutable writes read from their bodies and not yet written (all clients).
WRITE_BUDGET = 32 * MiB


class ByteBudget:
    """A count of bytes in use, never above ``limit``; waiters are served in order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._waiting: deque[tuple[int, Deferred[None]]] = deque()

    def _grant(self, size: int) -> None:
        self.used += size
        self.peak = max(self.peak, self.used)

    def try_take(self, size: int) -> bool:
        """Take ``size`` bytes now if they fit (and nobody waits); False otherwise."""
        if self._waiting or self.used + size > self.limit:
            return False
        self._grant(size)
        return True

    async def take(self, size: int) -> int:
        """Wait until ``size`` bytes fit (at most ``limit``), take them; returns what was taken."""
        size = min(size, self.limit)
        if self.try_take(size):
            return size
        waiter: Deferred[None] = Deferred()
        self._waiting.append((size, waiter))
        await waiter
        return size

    async def take_some(self, want: int, least: int) -> int:
        """Take between ``least`` and ``want`` bytes, fewer as the budget fills; returns how many.

        Only the upper half of the budget is handed out in large grants (a
        quarter of what is free there at most); the lower half goes in grants
        of ``least``. So a few clients that take and never release cannot
        leave the others waiting: as long as they number under
        ``limit / 2 / least``, each still gets ``least`` at once.
        """
        least = min(least, want, self.limit)
        if not self._waiting:
            spare = self.limit - self.used - self.limit // 2
            size = min(want, max(least, spare // 4))
            if self.used + size <= self.limit:
                self._grant(size)
                return size
        return await self.take(least)

    def give_back(self, size: int) -> None:
        self.used -= size
        while self._waiting and self.used + self._waiting[0][0] <= self.limit:
            wanted, waiter = self._waiting.popleft()
            self._grant(wanted)
            waiter.callback(None)
