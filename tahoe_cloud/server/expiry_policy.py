"""When a lease has expired: the ``expire.*`` settings of ``[storage]`` as one rule.

A lease records only its expiration time, not when it was last renewed. As
upstream Tahoe-LAFS documents (docs/garbage-collection.rst), the time of the
last renewal is derived from it: a renewal grants a fixed duration (31 days,
``DEFAULT_LEASE_DURATION``, the duration this server grants unless told
otherwise), so ``renewal = expiration - lease_duration`` and a lease's age is
``now - renewal``. A server granting another duration builds its policy with
that duration, so ages stay right for the leases it wrote.

A lease is expired, at time ``now``:

- ``age`` mode with ``expire.override_lease_duration``: when its age exceeds
  the override (``now - renewal > override``);
- ``age`` mode without it: when it is past its own expiration time
  (``now > expiration``). This is what upstream's documentation says. Upstream
  1.20's code compares the age with the absolute expiration time instead, so
  without an override it never expires a lease in age mode; this server does
  not copy that;
- ``cutoff-date`` mode: when it was last renewed before the cutoff, the UTC
  midnight starting ``expire.cutoff_date`` (``renewal < cutoff``).

The policy is pure: no clock and no I/O. ``tahoe_cloud.server.expiry`` applies it.
"""

from __future__ import annotations

from typing import Protocol

from attrs import frozen

from tahoe_cloud.server.lease_policy import DEFAULT_LEASE_DURATION
from tahoe_cloud.vocabulary import Lease, ShareKind

AGE = "age"
CUTOFF_DATE = "cutoff-date"

#: Width of one bucket of the lease-age histogram: a day, as upstream's.
HISTOGRAM_BUCKET = 24 * 60 * 60


class ExpirySettings(Protocol):
    """The parsed ``expire.*`` keys, as ``tahoe_cloud.config.storage.ExpirationConfig`` holds them.

    Named structurally: the server core does not import ``config``.
    """

    @property
    def enabled(self) -> bool: ...
    @property
    def mode(self) -> str: ...
    @property
    def override_lease_duration(self) -> int | None: ...
    @property
    def cutoff_date(self) -> int | None: ...
    @property
    def immutable(self) -> bool: ...
    @property
    def mutable(self) -> bool: ...


def renewal_time(lease: Lease, lease_duration: int = DEFAULT_LEASE_DURATION) -> int:
    """When ``lease`` was last renewed, derived from its expiration (see the module's doc)."""
    return lease.expiration - lease_duration


def age_bucket(age: float) -> int:
    """The histogram bucket of an age: whole days since renewal (``age // HISTOGRAM_BUCKET``).

    A lease renewed "in the future" (a clock set back, a longer grant) is in bucket 0.
    """
    return max(0, int(age // HISTOGRAM_BUCKET))


@frozen
class ExpiryPolicy:
    """Which leases are expired, and which share kinds expiry applies to.

    ``enabled`` false is report-only: the checker counts what it would
    reclaim and changes nothing. ``override_lease_duration`` is used in
    ``age`` mode only, ``cutoff_date`` (POSIX seconds) in ``cutoff-date``
    mode only, where it is required.
    """

    enabled: bool = False
    mode: str = AGE
    override_lease_duration: int | None = None
    cutoff_date: int | None = None
    immutable: bool = True
    mutable: bool = True
    lease_duration: int = DEFAULT_LEASE_DURATION

    def __attrs_post_init__(self) -> None:
        if self.mode not in (AGE, CUTOFF_DATE):
            raise ValueError(f"expiry mode must be {AGE!r} or {CUTOFF_DATE!r}, not {self.mode!r}")
        if self.mode == CUTOFF_DATE and self.cutoff_date is None:
            raise ValueError("cutoff-date mode needs a cutoff date")
        if self.lease_duration < 0:
            raise ValueError("lease duration must not be negative")
        if self.override_lease_duration is not None and self.override_lease_duration < 0:
            raise ValueError("override lease duration must not be negative")

    @classmethod
    def from_settings(
        cls, settings: ExpirySettings, *, lease_duration: int = DEFAULT_LEASE_DURATION
    ) -> ExpiryPolicy:
        """The policy of a node's ``[storage]`` ``expire.*`` keys (``StorageConfig.expire``).

        ``lease_duration`` is the duration the server grants (``StorageServer``'s).
        """
        return cls(
            enabled=settings.enabled,
            mode=settings.mode,
            override_lease_duration=settings.override_lease_duration,
            cutoff_date=settings.cutoff_date,
            immutable=settings.immutable,
            mutable=settings.mutable,
            lease_duration=lease_duration,
        )

    def selects(self, kind: ShareKind) -> bool:
        """Whether expiry applies to shares of ``kind`` (``expire.immutable``, ``.mutable``)."""
        return self.immutable if kind is ShareKind.IMMUTABLE else self.mutable

    def renewal_time(self, lease: Lease) -> int:
        return renewal_time(lease, self.lease_duration)

    def age(self, lease: Lease, now: float) -> float:
        """Seconds since ``lease`` was last renewed (negative if renewed "in the future")."""
        return now - self.renewal_time(lease)

    def lease_expired(self, lease: Lease, now: float) -> bool:
        """Whether ``lease`` has expired at ``now`` (POSIX seconds): the module doc's rule."""
        if self.mode == CUTOFF_DATE:
            assert self.cutoff_date is not None  # checked when made
            return self.renewal_time(lease) < self.cutoff_date
        if self.override_lease_duration is not None:
            return self.age(lease, now) > self.override_lease_duration
        return now > lease.expiration
