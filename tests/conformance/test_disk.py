"""The conformance kit on the disk backend."""

from __future__ import annotations

from pathlib import Path

from tahoe_cloud.testing import BackendContext, BackendSuite
from tests.conformance.backends import disk_backend


class TestDisk(BackendSuite):
    def make_backend(self, directory: Path) -> BackendContext:
        return disk_backend(directory)

    def reopen_backend(self, directory: Path) -> BackendContext:
        return disk_backend(directory)
