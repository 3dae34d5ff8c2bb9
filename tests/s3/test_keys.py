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
