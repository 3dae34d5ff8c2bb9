"""Bookkeeping of which bytes of an immutable upload have been received.

An immutable upload may arrive in any order, repeat itself and overlap; the
core must know which parts of a new write cover bytes already stored (to check
they are equal), which parts are new (to store them), and which ranges are
still missing (the answer to every write). ``ReceivedBytes`` keeps the received
ranges as a sorted list of disjoint, non-touching half-open intervals, so each
question is a walk over at most a few intervals.
"""

from __future__ import annotations

import bisect

from tahoe_cloud.server.messages import ByteRange


class ReceivedBytes:
    """A set of byte offsets stored as merged half-open intervals ``[begin, end)``."""

    def __init__(self) -> None:
        # Invariant: sorted, disjoint and non-adjacent (adjacent ones are merged),
        # and every interval is non-empty.
        self._begins: list[int] = []
        self._ends: list[int] = []
        self._total = 0

    def __repr__(self) -> str:
        pairs = ", ".join(f"[{b}, {e})" for b, e in zip(self._begins, self._ends, strict=True))
        return f"ReceivedBytes({pairs})"

    @property
    def total(self) -> int:
        """How many bytes the set holds (kept as a running total)."""
        return self._total

    def intervals(self) -> list[tuple[int, int]]:
        return list(zip(self._begins, self._ends, strict=True))

    def add(self, begin: int, end: int) -> None:
        """Add ``[begin, end)``; merges with every interval it overlaps or touches."""
        if begin >= end:
            return
        # First interval whose end reaches begin, last whose begin is <= end.
        lo = bisect.bisect_left(self._ends, begin)
        hi = bisect.bisect_right(self._begins, end)
        if lo < hi:
            self._total -= sum(self._ends[lo:hi]) - sum(self._begins[lo:hi])
            begin = min(begin, self._begins[lo])
            end = max(end, self._ends[hi - 1])
        self._total += end - begin
        self._begins[lo:hi] = [begin]
        self._ends[lo:hi] = [end]

    def covered(self, begin: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[begin, end)`` already in the set, in order."""
        result = []
        i = bisect.bisect_right(self._ends, begin)
        while i < len(self._begins) and self._begins[i] < end:
            result.append((max(begin, self._begins[i]), min(end, self._ends[i])))
            i += 1
        return result

    def missing(self, begin: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[begin, end)`` not in the set, in order."""
        result = []
        cursor = begin
        for b, e in self.covered(begin, end):
            if b > cursor:
                result.append((cursor, b))
            cursor = e
        if cursor < end:
            result.append((cursor, end))
        return result

    def required(self, size: int) -> tuple[ByteRange, ...]:
        """What an upload of ``size`` bytes still needs, as the wire answer wants it."""
        return tuple(ByteRange(b, e) for b, e in self.missing(0, size))
