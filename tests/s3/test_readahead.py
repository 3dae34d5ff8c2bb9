"""The read-ahead windows of immutable shares, without S3 (see test_proxy for requests)."""

from __future__ import annotations

import pytest

from tahoe_cloud.backends.s3.readahead import WINDOWS_PER_SHARE, ReadAhead

KiB = 1024


def test_fetch_range() -> None:
    ra = ReadAhead(window=100 * KiB)
    assert ra.fetch_range(0, 10, None) == (0, 100 * KiB)  # size unknown: from the read on
    assert ra.fetch_range(5, 200 * KiB, None) == (5, 200 * KiB)  # larger than a window
    assert ra.fetch_range(0, 10, 1000 * KiB) == (0, 100 * KiB)
    assert ra.fetch_range(950 * KiB, 10, 1000 * KiB) == (900 * KiB, 100 * KiB)  # the last window
    assert ra.fetch_range(10, 10, 50 * KiB) == (0, 50 * KiB)  # a small share: all of it
    assert ra.fetch_range(0, 300 * KiB, 250 * KiB) == (0, 250 * KiB)
    assert ReadAhead(window=0).fetch_range(7, 10, 1000) == (7, 10)


def test_lookup_serves_only_whole_ranges_within_a_window() -> None:
    ra = ReadAhead(window=10)
    ra.store("k", 100, b"0123456789")
    assert ra.lookup("k", 100, 110) == b"0123456789"
    assert ra.lookup("k", 103, 105) == b"34"
    assert ra.lookup("k", 105, 111) is None  # runs past the window
    assert ra.lookup("k", 99, 101) is None
    assert ra.lookup("other", 100, 101) is None


def test_windows_per_share_budget_and_forget() -> None:
    ra = ReadAhead(window=10, budget=100)
    for n in range(WINDOWS_PER_SHARE + 1):
        ra.store("a", 10 * n, bytes(10))
    assert len(ra) == WINDOWS_PER_SHARE and ra.lookup("a", 0, 1) is None  # oldest went
    for n in range(10):
        ra.store(f"s{n}", 0, bytes(10))
    assert ra.used <= 100 and len(ra) == 10
    assert ra.lookup("a", 10 * WINDOWS_PER_SHARE, 10 * WINDOWS_PER_SHARE + 1) is None
    ra.forget("s9")
    assert ra.lookup("s9", 0, 1) is None and ra.used == 90
    ra.store("big", 0, bytes(101))  # larger than the budget: not kept
    assert ra.lookup("big", 0, 1) is None and ra.used == 90
    with pytest.raises(ValueError):
        ReadAhead(window=-1)
