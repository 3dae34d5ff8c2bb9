"""When and how to retry an S3 request.

Retried: 500/502/503/504, 429, the S3 codes meaning "busy" (SlowDown,
RequestTimeout, ...), connection errors and timeouts. Each retry waits an
exponential backoff with full jitter (a random time between 0 and
``base * 2**attempt``, capped), so many clients hitting a re-partitioning
bucket spread out instead of retrying in lock step. Attempts and total time
are both bounded. Every attempt is signed afresh (the caller passes a
function that signs and sends).

``RequestTimeTooSkewed`` is special: the server's ``Date`` header gives the
offset, the signer's clock is corrected, the skew is logged, and the request
is retried once with the corrected time.

Never retried: authorization and other 4xx answers, and any exception that is
not an ``S3Error`` (a programming error must surface, not loop).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

from attrs import frozen
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.signing import Signer

log = Logger()

T = TypeVar("T")


@frozen
class RetryPolicy:
    """Bounds on retrying: attempts, total time, and the backoff curve."""

    max_attempts: int = 6
    max_total_time: float = 60.0
    base_delay: float = 0.1
    max_delay: float = 10.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**attempt)]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * (2**attempt)))


def skew_from_date(server_date: str | None, local_now: float) -> float | None:
    """Seconds to add to the local clock to match the server's ``Date`` header."""
    if not server_date:
        return None
    try:
        server = parsedate_to_datetime(server_date).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return server - local_now


class Retrier:
    """Runs an attempt function under a ``RetryPolicy``."""

    def __init__(
        self,
        reactor: IReactorTime,
        signer: Signer,
        policy: RetryPolicy | None = None,
        *,
        rng: random.Random | None = None,
        local_clock: Callable[[], float] | None = None,
    ) -> None:
        self._reactor = reactor
        self._signer = signer
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.SystemRandom()
        self._local_clock = local_clock or reactor.seconds
        self.retries = 0  # total retries made, for tests and statistics

    async def run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Call ``attempt`` until it succeeds, fails for good, or the bounds are reached."""
        started = self._reactor.seconds()
        tries = 0
        skew_corrected = False
        while True:
            tries += 1
            try:
                return await attempt()
            except S3Error as e:
                if e.code == "RequestTimeTooSkewed" and not skew_corrected:
                    skew = skew_from_date(e.server_date, self._local_clock())
                    if skew is not None:
                        skew_corrected = True
                        self._signer.clock_offset = skew
                        log.warn(
                            "S3 says this machine's clock is off by {skew:.0f} seconds;"
                            " signing with the corrected time from now on. Fix the clock (NTP).",
                            skew=skew,
                        )
                        self.retries += 1
                        continue
                if not e.transient:
                    raise
                elapsed = self._reactor.seconds() - started
                if tries >= self.policy.max_attempts:
                    raise
                delay = self.policy.delay(tries - 1, self._rng)
                if elapsed + delay > self.policy.max_total_time:
                    raise
                log.info(
                    "S3 {operation} failed ({error}); retry {n} in {delay:.2f} s",
                    operation=e.operation,
                    error=f"HTTP {e.status} {e.code or ''}".strip() if e.status else e.s3_message,
                    n=tries,
                    delay=delay,
                )
                self.retries += 1
                await deferLater(self._reactor, delay)
