"""A running tally of the requests answered, logged as one summary line a minute.

A line per request at level ``info`` cost a busy node about a tenth of its
CPU (the line is formatted, then written and flushed to stdout and to the
log file: ``python -m benchmarks.profile small --tool none --log-level
debug`` against ``info``) and buried everything else in the log: at a
thousand requests a second, the rotated log files hold minutes. So a successful request is logged at
``debug`` (``[logging] level = debug`` shows every one), a failed one at
``info`` as before, and ``info`` gets this summary instead.

There is no timer: the summary of a window is emitted by the first request
answered once the window is a minute old. A connected stock client polls the
version about once a second, so windows close on time while anyone is
connected, and an idle node writes nothing.
"""

from __future__ import annotations

from collections import Counter

from attrs import define, field
from twisted.logger import Logger

_log = Logger(namespace="tahoe_cloud.http")

#: Seconds covered by one summary line.
WINDOW = 60.0


def _bytes(count: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


@define
class TrafficTally:
    """Counts answers by status class and bytes each way, for ``WINDOW`` seconds at a time."""

    window_start: float
    statuses: Counter[str] = field(factory=Counter)
    received: int = 0
    sent: int = 0

    def record(self, now: float, code: int, received: int, sent: int) -> None:
        """Count one answered request; log and restart the window once it is ``WINDOW`` old."""
        if now - self.window_start >= WINDOW and self.statuses:
            _log.info("{summary}", summary=self.summary(now))
            self.statuses.clear()
            self.received = self.sent = 0
            self.window_start = now
        elif not self.statuses:
            self.window_start = now
        self.statuses[f"{code // 100}xx"] += 1
        self.received += received
        self.sent += sent

    def summary(self, now: float) -> str:
        """E.g. ``in the last 60 s: 5210 requests (2xx: 5200, 4xx: 10); 1.2 GB in, 3.4 MB out``."""
        total = sum(self.statuses.values())
        classes = ", ".join(f"{name}: {n}" for name, n in sorted(self.statuses.items()))
        return (
            f"in the last {now - self.window_start:.0f} s: {total} request{'s' * (total != 1)} "
            f"({classes}); {_bytes(self.received)} in, {_bytes(self.sent)} out"
        )
