"""What the lease checker found: per storage index, and summed over a cycle.

``KindCounts`` holds the figures of one share kind, ``StorageIndexReport``
those of one storage index (``LeaseChecker.examine``), and ``CycleReport``
their sum over a pass over every storage index. A cycle report turns into a
plain JSON-able dict and back (``to_dict``/``from_dict``), so it can be
stored between runs and shown.

The figures, for each kind:

- ``shares_examined``, ``leases_examined``: every share of the kind and its
  leases, whether or not expiry applies to the kind;
- ``leases_expired``: leases found expired on shares of a selected kind;
  removed when expiry is enabled, else only counted;
- ``shares_reclaimed``, ``bytes_reclaimed``: shares of a selected kind with no
  unexpired lease, deleted when enabled (else: would have been), and their data
  sizes (container headers and leases excluded);
- ``leases_per_share``: number of leases -> number of shares with that many;
- ``lease_age_histogram``: day bucket ``d`` -> number of leases whose age
  since their last renewal is in ``[d, d + 1)`` days (negative ages in ``0``).

In report-only mode (``expire.enabled = false``) every figure is the same as
enabled expiry would give; only ``deleted`` says nothing was changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import define, field

from tahoe_cloud.vocabulary import ShareKind


def _int_keys(data: Mapping[str, Any]) -> dict[int, int]:
    return {int(k): int(v) for k, v in data.items()}


def _add(into: dict[int, int], other: Mapping[int, int]) -> None:
    for key, count in other.items():
        into[key] = into.get(key, 0) + count


@define
class KindCounts:
    """The figures of one share kind (see the module's doc)."""

    shares_examined: int = 0
    leases_examined: int = 0
    leases_expired: int = 0
    shares_reclaimed: int = 0
    bytes_reclaimed: int = 0
    leases_per_share: dict[int, int] = field(factory=dict)
    lease_age_histogram: dict[int, int] = field(factory=dict)

    def add(self, other: KindCounts) -> None:
        self.shares_examined += other.shares_examined
        self.leases_examined += other.leases_examined
        self.leases_expired += other.leases_expired
        self.shares_reclaimed += other.shares_reclaimed
        self.bytes_reclaimed += other.bytes_reclaimed
        _add(self.leases_per_share, other.leases_per_share)
        _add(self.lease_age_histogram, other.lease_age_histogram)

    def to_dict(self) -> dict[str, Any]:
        # JSON object keys are strings.
        return {
            "shares_examined": self.shares_examined,
            "leases_examined": self.leases_examined,
            "leases_expired": self.leases_expired,
            "shares_reclaimed": self.shares_reclaimed,
            "bytes_reclaimed": self.bytes_reclaimed,
            "leases_per_share": {str(k): v for k, v in sorted(self.leases_per_share.items())},
            "lease_age_histogram": {str(k): v for k, v in sorted(self.lease_age_histogram.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KindCounts:
        return cls(
            shares_examined=int(data["shares_examined"]),
            leases_examined=int(data["leases_examined"]),
            leases_expired=int(data["leases_expired"]),
            shares_reclaimed=int(data["shares_reclaimed"]),
            bytes_reclaimed=int(data["bytes_reclaimed"]),
            leases_per_share=_int_keys(data["leases_per_share"]),
            lease_age_histogram=_int_keys(data["lease_age_histogram"]),
        )


def _kinds() -> dict[ShareKind, KindCounts]:
    return {kind: KindCounts() for kind in ShareKind}


@define
class StorageIndexReport:
    """What examining one storage index found, and did.

    ``skipped_busy``: an upload or a read-test-write was in progress, so
    nothing was examined or changed (all counts zero). ``deleted``: whether
    the reclaimed shares and expired leases were actually removed (false in
    report-only mode).
    """

    skipped_busy: bool = False
    deleted: bool = False
    kinds: dict[ShareKind, KindCounts] = field(factory=_kinds)

    def __getitem__(self, kind: ShareKind) -> KindCounts:
        return self.kinds[kind]


@define
class CycleReport:
    """The sum of the ``StorageIndexReport`` of every storage index examined in one cycle.

    ``started`` and ``finished`` are POSIX times set by whoever runs the cycle
    (``finished`` is None while it runs); ``report_only`` says whether
    expiry was disabled, so nothing was deleted.
    """

    started: float | None = None
    finished: float | None = None
    report_only: bool = True
    storage_indexes_examined: int = 0
    storage_indexes_skipped_busy: int = 0
    kinds: dict[ShareKind, KindCounts] = field(factory=_kinds)

    def __getitem__(self, kind: ShareKind) -> KindCounts:
        return self.kinds[kind]

    def add(self, report: StorageIndexReport) -> None:
        """Count one storage index's report in this cycle."""
        if report.skipped_busy:
            self.storage_indexes_skipped_busy += 1
            return
        self.storage_indexes_examined += 1
        for kind, counts in report.kinds.items():
            self.kinds[kind].add(counts)

    def to_dict(self) -> dict[str, Any]:
        """A dict of str, int, float, None, and such dicts: ``json.dumps`` takes it as is."""
        return {
            "started": self.started,
            "finished": self.finished,
            "report_only": self.report_only,
            "storage_indexes_examined": self.storage_indexes_examined,
            "storage_indexes_skipped_busy": self.storage_indexes_skipped_busy,
            "kinds": {kind.value: self.kinds[kind].to_dict() for kind in ShareKind},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CycleReport:
        """Inverse of ``to_dict``; ``KeyError``/``ValueError``/``TypeError`` on a malformed dict."""
        kinds = _kinds()
        for name, counts in data["kinds"].items():
            kinds[ShareKind(name)] = KindCounts.from_dict(counts)

        def time(key: str) -> float | None:
            value = data[key]
            return None if value is None else float(value)

        return cls(
            started=time("started"),
            finished=time("finished"),
            report_only=bool(data["report_only"]),
            storage_indexes_examined=int(data["storage_indexes_examined"]),
            storage_indexes_skipped_busy=int(data["storage_indexes_skipped_busy"]),
            kinds=kinds,
        )
