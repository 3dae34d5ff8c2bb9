"""The conformance kit on the memory backend (it keeps nothing across a restart)."""

from __future__ import annotations

from pathlib import Path

from tahoe_cloud.testing import BackendContext, BackendSuite
from tests.conformance.backends import memory_backend


class TestMemory(BackendSuite):
    model_examples = 60  # fast: more examples

    def make_backend(self, directory: Path) -> BackendContext:
        return memory_backend(directory)
