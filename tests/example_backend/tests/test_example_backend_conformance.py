"""tahoe-cloud's conformance kit, run on this package's backend.

Run from this package's directory with ``pytest`` (after
``pip install -e '.[test]'``); tahoe-cloud's own ``./dev test`` collects it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tahoe_cloud_example_backend import ExampleBackend

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.testing import BackendSuite


class TestExampleBackend(BackendSuite):
    model_examples = 60  # in memory, so fast

    @asynccontextmanager
    async def make_backend(self, directory: Path) -> AsyncIterator[IStorageBackend]:
        yield ExampleBackend()

    # No reopen_backend: the shares are in memory, so the restart tests are skipped.
