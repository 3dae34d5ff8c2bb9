"""Run a tahoe-cloud node with one deliberate change, to measure what a design choice costs.

Usage: ``python -m benchmarks.variants VARIANT tahoe-cloud-args...``; used by
``python -m benchmarks.profile ... --variant VARIANT``. Nothing here is an option
of the real server: each variant gives up something the server promises.

* ``inline-io``: the disk backend's blocking file calls run on the reactor
  thread instead of its I/O threads, as upstream's server does all its file
  I/O. Measures what keeping the disk off the reactor thread costs in CPU
  (hand-offs between threads, and the contention for the GIL they bring).
* ``no-fsync``: ``os.fsync`` does nothing. Writes stay atomic (staged, then
  renamed) but are no longer durable when acknowledged; measures what the
  fsyncs of a crash-safe share cost.
* ``inline-io+no-fsync``: both;
* ``as-is``: no change (with ``BENCH_CPROFILE=FILE`` in the environment, any
  variant runs under cProfile, whose statistics go to FILE when the node stops).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

VARIANTS = ("as-is", "inline-io", "no-fsync", "inline-io+no-fsync")


def _inline_io() -> None:
    from tahoe_cloud.backends.disk.fileio import IOPool

    async def run_here(self: IOPool, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    IOPool.run = run_here  # type: ignore[method-assign]


def _no_fsync() -> None:
    def skip(fd: object) -> None:
        pass

    os.fsync = skip


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in VARIANTS:
        print(f"usage: python -m benchmarks.variants {{{','.join(VARIANTS)}}} ARGS...")
        return 2
    changes, rest = argv[0].split("+"), argv[1:]
    if "inline-io" in changes:
        _inline_io()
    if "no-fsync" in changes:
        _no_fsync()
    from tahoe_cloud.cli.main import main as tahoe_cloud_main

    stats = os.environ.get("BENCH_CPROFILE")
    if not stats:
        return tahoe_cloud_main(rest)
    import cProfile

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(tahoe_cloud_main, rest)
    finally:
        profiler.dump_stats(stats)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
