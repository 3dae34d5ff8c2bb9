"""What this server knows of the shares of each storage index, so repeat queries need no LIST.

A shares query is one S3 LIST, priced like a PUT: reading a 3-of-10 file
asks all ten servers, so before this cache the queries were nearly all of
the cost of reading a file. A node is the only writer of its bucket and
prefix (the marker object, ``Maintenance.claim_marker``), so every change to
a listing is one this process makes itself: publishing an immutable share,
creating, deleting or failing to write a mutable share. Each of those
updates the entry here before its answer is sent, so an entry, positive
(these shares, with the sizes of the immutable ones) or negative (no
shares at all), stays exact for as long as it is kept.

Bounded: an LRU whose budget (``limit``, 100,000 by default) counts each
storage index as its number of shares, at least 1, so a storage index with
many shares cannot make the cache grow past the budget: measured at 150-250
bytes per unit (about 24 MiB at most for the default; see docs/s3.md). An
evicted or never-seen storage index is listed again, once; after a restart
the cache is empty and the first query of each storage index lists it.

Races with queries in flight: a LIST is sent under a stamp (``stamp()``);
its answer is stored only if no change to that storage index began or
ended since (``changing``, ``changed``, ``forget`` move the stamp), since
such an answer may already be out of date. Stamps of changes are kept for
the last ``stamp_limit`` storage indexes; older ones count as the newest
forgotten stamp, so forgetting never makes an answer look newer than it is.
"""

from __future__ import annotations

from collections import OrderedDict

from tahoe_cloud.vocabulary import ShareKind, StorageIndex

LISTING_ENTRIES = 100_000
CHANGE_STAMPS = 10_000

# An entry is a flat tuple (n0, size0, n1, size1, ...) of share numbers in
# increasing order, with size MUTABLE for a mutable share: the most compact
# form in CPython (a negative entry is the shared empty tuple; share numbers
# are cached small ints). Keys are the 16 raw bytes of the storage index.
MUTABLE = -1
Entry = tuple[int, ...]


def _entry(shares: dict[int, int]) -> Entry:
    return tuple(x for n in sorted(shares) for x in (n, shares[n]))


def _weight_of(entry: Entry) -> int:
    return max(1, len(entry) // 2)


def _shares(entry: Entry) -> dict[int, int]:
    return dict(zip(entry[::2], entry[1::2], strict=True))


class ShareCache:
    """Share listings per storage index: positive and negative entries, LRU-bounded."""

    def __init__(self, limit: int = LISTING_ENTRIES, stamp_limit: int = CHANGE_STAMPS) -> None:
        if limit < 0 or stamp_limit < 1:
            raise ValueError("cache limits must be positive")
        self._limit = limit
        self._stamp_limit = stamp_limit
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._weight = 0  # the sum of _weight_of over the entries
        self._changed: OrderedDict[bytes, int] = OrderedDict()
        self._stamp = 0
        self._forgotten = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def weight(self) -> int:
        """What the entries count against the budget."""
        return self._weight

    def clear(self) -> None:
        """Forget every listing (as a restart does)."""
        self._entries.clear()
        self._weight = 0
        self._bump(None)

    # --- queries ---------------------------------------------------------------

    def listing(self, si: StorageIndex) -> dict[int, ShareKind] | None:
        """Share number -> kind, or None when this storage index is not known."""
        entry = self._lookup(si)
        if entry is None:
            return None
        return {
            n: ShareKind.MUTABLE if size == MUTABLE else ShareKind.IMMUTABLE
            for n, size in _shares(entry).items()
        }

    def immutable_size(self, si: StorageIndex, shnum: int) -> int | None:
        """The size of immutable share ``shnum``; -1 when it is known NOT to exist;
        None when this storage index is not known."""
        entry = self._lookup(si)
        if entry is None:
            return None
        size = _shares(entry).get(shnum, MUTABLE)
        return -1 if size == MUTABLE else size

    def _lookup(self, si: StorageIndex) -> Entry | None:
        entry = self._entries.get(si.raw)
        if entry is not None:
            self._entries.move_to_end(si.raw)
        return entry

    # --- filling and updating -------------------------------------------------

    def stamp(self) -> int:
        """Taken before a LIST is sent, and given to ``store`` with its answer."""
        return self._stamp

    def store(self, si: StorageIndex, shares: dict[int, int], listed_at: int) -> bool:
        """Remember a LIST's answer (share number -> size, ``MUTABLE`` for mutable shares).

        Not stored (returns False) when a change to ``si`` began or ended
        after the LIST was sent.
        """
        if self._changed.get(si.raw, self._forgotten) > listed_at:
            return False
        self._put(si.raw, _entry(shares))
        return True

    def changing(self, si: StorageIndex) -> None:
        """A change to the shares of ``si`` begins: LISTs in flight are not to be stored."""
        self._bump(si.raw)

    def changed(self, si: StorageIndex, shnum: int, size: int | None) -> None:
        """A change ended and its outcome is known: share ``shnum`` now has ``size``
        bytes (``MUTABLE`` for a mutable share), or is gone (None)."""
        self._bump(si.raw)
        entry = self._entries.get(si.raw)
        if entry is None:
            return  # not known: the next query lists it
        shares = _shares(entry)
        if size is None:
            shares.pop(shnum, None)
        else:
            shares[shnum] = size
        self._put(si.raw, _entry(shares))

    def forget(self, si: StorageIndex) -> None:
        """The outcome of a change is unknown (it failed midway), or the bucket
        disagrees with the entry (a share listed here is not there): list again."""
        self._bump(si.raw)
        old = self._entries.pop(si.raw, None)
        if old is not None:
            self._weight -= _weight_of(old)

    def _put(self, key: bytes, entry: Entry) -> None:
        entries = self._entries
        old = entries.get(key)
        if old is not None:
            self._weight -= _weight_of(old)
        entries[key] = entry
        entries.move_to_end(key)
        self._weight += _weight_of(entry)
        while self._weight > self._limit:
            _key, evicted = entries.popitem(last=False)
            self._weight -= _weight_of(evicted)

    def _bump(self, key: bytes | None) -> None:
        self._stamp += 1
        if key is None:
            self._forgotten = self._stamp
            self._changed.clear()
            return
        changed = self._changed
        changed[key] = self._stamp
        changed.move_to_end(key)
        while len(changed) > self._stamp_limit:
            _key, stamp = changed.popitem(last=False)
            self._forgotten = max(self._forgotten, stamp)
