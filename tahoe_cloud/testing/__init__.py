"""tahoe-cloud's conformance kit: the storage protocol's behaviour, run against any backend.

A backend package proves itself with the tests tahoe-cloud's own backends
pass. In its own tests it subclasses ``BackendSuite`` once and says how to
build its backend::

    from contextlib import asynccontextmanager

    from tahoe_cloud.testing import BackendSuite

    class TestMyBackend(BackendSuite):
        @asynccontextmanager
        async def make_backend(self, directory):
            yield MyBackend(directory / "shares")

        reopen_backend = make_backend  # optional: the restart tests

The kit needs pytest, pytest-twisted and hypothesis, which tahoe-cloud does
not need to run: install them with ``pip install 'tahoe-cloud[testing]'``.
See docs/writing-a-backend.md.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401
    import pytest_twisted  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"tahoe_cloud.testing is tahoe-cloud's test kit and needs pytest, pytest-twisted and "
        f"hypothesis ({e.name or e} is missing): install them with "
        f"pip install 'tahoe-cloud[testing]'"
    ) from e

from tahoe_cloud.testing.enumeration import EnumerationTests
from tahoe_cloud.testing.harness import BackendContext, BackendHarness, BackendUnavailableHere
from tahoe_cloud.testing.immutable import ImmutableTests
from tahoe_cloud.testing.leases import LeaseAndMiscTests
from tahoe_cloud.testing.model import MutableModelTests
from tahoe_cloud.testing.mutable import MutableTests
from tahoe_cloud.testing.properties import ImmutablePropertyTests
from tahoe_cloud.testing.reactor import async_test, in_thread, run
from tahoe_cloud.testing.restart import RestartTests
from tahoe_cloud.testing.suite import BackendSuite

__all__ = [
    "BackendContext",
    "BackendHarness",
    "BackendSuite",
    "BackendUnavailableHere",
    "EnumerationTests",
    "ImmutablePropertyTests",
    "ImmutableTests",
    "LeaseAndMiscTests",
    "MutableModelTests",
    "MutableTests",
    "RestartTests",
    "async_test",
    "in_thread",
    "run",
]
