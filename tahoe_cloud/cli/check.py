"""``tahoe-cloud check``: validate a node's configuration and its backend without serving.

A backend whose plugin provides ``IPreflightCheck`` runs its own check (for
an object store, say, the start-up check ``run`` does before it listens,
without claiming the bucket); any other backend is built, started and
stopped. Configuration
warnings (unknown keys, exposed private files) are printed on stderr, since
no log is running. Prints one "OK" line, or fails with one clear line. It
refuses to run while the node runs: starting the backend would clear the
running node's uploads in progress.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher

from tahoe_cloud.backends.capabilities import IPreflightCheck
from tahoe_cloud.backends.registry import create_backend, load_backend_plugin
from tahoe_cloud.cli.reactor_call import call
from tahoe_cloud.node.nodedir import NodeDirectory, open_node_directory
from tahoe_cloud.node.runlock import lock_node_directory

NAME = "check"
HELP = (
    "Check a node's configuration and backend without serving (with the backend's own"
    " preflight check where it has one: for cloud storage, its URL, credentials, bucket and"
    " clock)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Print configuration warnings on stderr while the block runs (no log observer exists)."""

    def show(event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if level is not None and level >= LogLevel.warn:
            print(f"warning: {formatEvent(event)}", file=sys.stderr, flush=True)

    observer = cast(ILogObserver, show)

    globalLogPublisher.addObserver(observer)
    try:
        yield
    finally:
        globalLogPublisher.removeObserver(observer)


async def check_node(nodedir: Path, reactor: Any = None) -> str:
    """What ``check`` prints; raises ``ConfigError`` / ``BackendError`` with the problem."""
    node = open_node_directory(nodedir)
    node.listen_endpoint  # noqa: B018 - a node without one cannot serve: say so now
    with lock_node_directory(node.config.nodedir, NAME):
        return await _check(node, reactor)


async def _check(node: NodeDirectory, reactor: Any) -> str:
    config = node.config
    plugin = load_backend_plugin(config)
    if IPreflightCheck.providedBy(plugin.capabilities):
        line = await IPreflightCheck(plugin.capabilities).check(config, reactor)
        config.warn_unknown_keys("storage")
        return line
    backend = create_backend(config)
    await backend.start()
    try:
        space = await backend.available_space()
    finally:
        await backend.stop()
    return (
        f"OK: the {config.storage.backend} backend starts and stops cleanly"
        f" ({space} bytes available); configuration in {config.config_path} is valid"
    )


def main(args: argparse.Namespace) -> int:
    with warnings_to_stderr():
        print(call(lambda reactor: check_node(args.nodedir, reactor)))
    return 0
