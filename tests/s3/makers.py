"""The process's shared moto server, and ``make_backend`` (from ``tests/support/s3.py``).

The conformance suite's fixtures are function-scoped, so its moto server is
started once per test process on first use and stopped at exit; each backend
gets a bucket of its own.
"""

from __future__ import annotations

import atexit
import contextlib

from tests.s3.moto import MotoServer, run_moto
from tests.support.s3 import make_backend

__all__ = ["make_backend", "shared_moto"]

_shared: MotoServer | None = None
_stack = contextlib.ExitStack()
atexit.register(_stack.close)


def shared_moto() -> MotoServer:
    """One plain moto server for this test process (started on first use)."""
    global _shared
    if _shared is None:
        _shared = _stack.enter_context(run_moto())
    return _shared
