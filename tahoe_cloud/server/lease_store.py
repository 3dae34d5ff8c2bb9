"""Storing changed leases: one the backend could not store is an error, logged as one.

The stock client ignores a failed lease renewal (``deep-check --add-lease``
still says Healthy), so the server's log is the only place an operator can
see that leases are not being renewed: the failure is logged at error level
here, and re-raised so the request fails (never answered as a success).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twisted.logger import Logger

from tahoe_cloud.backends.interfaces import IShareSet
from tahoe_cloud.vocabulary import Lease, StorageIndex

log = Logger()


async def store_leases(
    shareset: IShareSet,
    storage_index: StorageIndex,
    changed: Mapping[int, Sequence[Lease]],
    during: str,
) -> None:
    """``shareset.write_leases(changed)``, logging a failure at error level before raising it."""
    try:
        await shareset.write_leases(changed)
    except Exception as e:
        # Error messages of this project carry no secret (see tahoe_cloud.errors).
        log.error(
            "the lease(s) of storage index {si} (shares {shares}) could not be stored during"
            " {during}; the request fails: {error}",
            si=storage_index.text,
            shares=",".join(str(n) for n in sorted(changed)),
            during=during,
            error=f"{type(e).__name__}: {e}",
        )
        raise
