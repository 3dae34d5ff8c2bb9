"""A backend without ``IShareEnumeration`` says so; the kit skips its walk tests, saying why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from zope.interface import implementer

from tahoe_cloud.backends.capabilities import IShareEnumeration, enumeration_key
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.testing import EnumerationTests
from tahoe_cloud.testing.enumeration import enumerating
from tahoe_cloud.vocabulary import StorageIndex


@implementer(IStorageBackend)
class Plain:
    """A memory backend behind a wrapper that provides only ``IStorageBackend``."""

    def __init__(self) -> None:
        self._inner = MemoryBackend()

    def __getattr__(self, name: str) -> Any:
        if name == "storage_indexes":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_a_backend_without_it_says_so() -> None:
    backend = Plain()
    assert not IShareEnumeration.providedBy(backend)
    assert IShareEnumeration.providedBy(MemoryBackend())
    with pytest.raises(pytest.skip.Exception, match="Plain does not provide IShareEnumeration"):
        enumerating(backend)


def test_the_order_is_the_text_not_the_bytes() -> None:
    """base32 digits sort before letters as text, after them as values: the text decides."""
    letter, digit = StorageIndex(b"\x00" * 16), StorageIndex(b"\xff" * 16)
    assert (letter.text[0], digit.text[0]) == ("a", "7")
    assert letter.raw < digit.raw
    assert enumeration_key(digit) < enumeration_key(letter)


class TestWithoutEnumeration(EnumerationTests):
    """Every walk test is skipped here, with the reason."""

    @asynccontextmanager
    async def make_backend(self, directory: Path) -> AsyncIterator[IStorageBackend]:
        yield Plain()
