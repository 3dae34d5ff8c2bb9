"""Key layout: exact share-name parsing and prefix validation."""

from __future__ import annotations

import pytest

from tahoe_cloud.backends.s3.keys import KeyLayout, parse_share_name, validate_prefix
from tahoe_cloud.vocabulary import ShareKind, StorageIndex


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0", (0, ShareKind.IMMUTABLE)),
        ("1", (1, ShareKind.IMMUTABLE)),
        ("10", (10, ShareKind.IMMUTABLE)),
        ("255", (255, ShareKind.IMMUTABLE)),
        ("7.mutable", (7, ShareKind.MUTABLE)),
        ("256", None),
        ("01", None),
        ("1.mutable.x", None),
        ("1x", None),
        ("", None),
        ("-1", None),
        ("1/2", None),
    ],
)
def test_share_names_parsed_exactly(name: str, expected: object) -> None:
    assert parse_share_name(name) == expected


def test_layout() -> None:
    si = StorageIndex(bytes(range(16)))
    keys = KeyLayout(validate_prefix("srv"))
    assert keys.immutable(si, 1) == f"srv/shares/{si.prefix}/{si.text}/1"
    assert keys.mutable_head(si, 1) == f"srv/shares/{si.prefix}/{si.text}/1.mutable"
    assert keys.shares_of(si).endswith(f"/{si.text}/")
    assert keys.chunk(si, 3, 2, "abc") == f"srv/mutable-chunks/{si.prefix}/{si.text}/3/2-abc"
    assert keys.leases(si) == f"srv/leases/{si.prefix}/{si.text}"
    assert keys.marker == "srv/tahoe-cloud-node"
    assert validate_prefix("") == ""
    for bad in ("/abs", "a//b", "sp ace", "a?b"):
        with pytest.raises(ValueError):
            validate_prefix(bad)


def test_listed_keys_are_read_back() -> None:
    si = StorageIndex(bytes(range(16)))
    keys = KeyLayout(validate_prefix("srv"))
    assert keys.share_owner(keys.immutable(si, 7)) == si.text
    assert keys.share_owner(keys.mutable_head(si, 7)) == si.text
    assert keys.share_owner(f"{keys.shares_root}{si.prefix}/{si.text}") is None
    assert keys.lease_owner(keys.leases(si)) == si.text
    assert keys.lease_owner(f"{keys.leases(si)}/extra") is None
    group = keys.chunk_group(keys.chunk(si, 3, 2, "abc"))
    assert group == (si.prefix, si.text, "3")
    assert keys.share_of_group(group) == (si, 3)
    assert keys.chunk_group(keys.chunk(si, 3, 2, "abc") + "/deeper") is None
    assert keys.share_of_group(("zz", "not-a-storage-index", "3")) is None
    assert keys.share_of_group((si.prefix, si.text, "x")) is None
