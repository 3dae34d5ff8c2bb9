"""Pieces of read-test-write checked alone."""

from __future__ import annotations

from tahoe_cloud.server.mutable import normalise_writes
from tahoe_cloud.vocabulary import WriteVector


def test_normalise_writes() -> None:
    writes = [WriteVector(0, b""), WriteVector(2, b"ab"), WriteVector(4, b""), WriteVector(9, b"")]
    assert normalise_writes(writes, 3) == (WriteVector(2, b"ab"), WriteVector(8, b"\x00"))
    assert normalise_writes([WriteVector(0, b"")], 0) == ()
    assert normalise_writes([WriteVector(1, b"")], 0) == (WriteVector(0, b"\x00"),)
