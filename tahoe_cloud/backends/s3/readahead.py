"""Read-ahead for immutable shares: one ranged GET serves several small reads of a share.

A client reads a share in pieces: the stock client one block per segment
(tens of kB) and its hashes, the storage protocol at most 1 MiB a request.
Each piece was one ranged GET: on S3 a round trip of tens of milliseconds and
a billed request; on a server that reads the whole object for every range
(moto does), the cost of the whole object. So a read that misses asks for a
*window* (``s3.read_ahead``, 4 MiB by default) from its first byte, or the
last window of the share when the read is that near its end, and keeps what
comes back; the reads that follow inside it are answered from memory.

Kept per share: a few windows (the stock client alternates between blocks
near the start of a share and hashes near its end), in one LRU for the
whole backend, bounded in bytes. Safe to keep because a completed immutable
share never changes: its bytes go only when it is deleted, and deleting
drops its windows (``forget``). A read at least as large as the window is
fetched as asked and not kept.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_WINDOW = 4 * 1024 * 1024
#: Windows kept per share; the oldest goes first.
WINDOWS_PER_SHARE = 4
#: All windows together hold at most this many full windows' worth of bytes.
WINDOWS_IN_MEMORY = 8


class ReadAhead:
    """Windows of immutable share bytes by object key, LRU-bounded to ``budget`` bytes."""

    def __init__(self, window: int = DEFAULT_WINDOW, budget: int | None = None) -> None:
        if window < 0:
            raise ValueError("the read-ahead window cannot be negative")
        self.window = window
        self.budget = window * WINDOWS_IN_MEMORY if budget is None else budget
        self.used = 0
        self._windows: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._starts: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def fetch_range(self, offset: int, wanted: int, share_size: int | None) -> tuple[int, int]:
        """(start, length) to GET for a read of ``wanted`` bytes at ``offset`` that missed.

        A window runs from the read on, except that it never runs past the end
        of a share of known size: near the end it ends there instead, so it
        also holds what lies before the read (hashes are read in any order).
        """
        if share_size is None:
            return offset, max(wanted, self.window)
        if wanted >= self.window:
            return offset, min(wanted, share_size - offset)
        start = max(0, min(offset, share_size - self.window))
        return start, min(self.window, share_size - start)

    def lookup(self, key: str, start: int, end: int) -> bytes | None:
        """Bytes [start, end) of ``key`` if one window holds them all, else None."""
        for first in self._starts.get(key, ()):
            data = self._windows[(key, first)]
            if first <= start and end <= first + len(data):
                self._windows.move_to_end((key, first))
                return data[start - first : end - first]
        return None

    def store(self, key: str, start: int, data: bytes) -> None:
        """Keep ``data``, the bytes of ``key`` from ``start`` on."""
        if not data or len(data) > self.budget:
            return
        if (key, start) in self._windows:
            self._drop(key, start)
        starts = self._starts.setdefault(key, [])
        starts.append(start)
        self._windows[(key, start)] = data
        self.used += len(data)
        while len(starts) > WINDOWS_PER_SHARE:
            self._drop(key, starts[0])
        while self.used > self.budget:
            oldest_key, oldest_start = next(iter(self._windows))
            self._drop(oldest_key, oldest_start)

    def forget(self, key: str) -> None:
        """The share is gone (deleted, or found missing): drop its windows."""
        for start in list(self._starts.get(key, ())):
            self._drop(key, start)

    def _drop(self, key: str, start: int) -> None:
        self.used -= len(self._windows.pop((key, start)))
        starts = self._starts[key]
        starts.remove(start)
        if not starts:
            del self._starts[key]
