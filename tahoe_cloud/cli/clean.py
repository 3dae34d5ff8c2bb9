"""``tahoe-cloud clean``: delete what crashes left in a node's backend storage.

For a backend whose plugin provides ``IMaintenance`` (an object store's
orphaned objects and unfinished uploads, say); other backends have nothing
to clean, and the command says so. Like every command that works
on a node's storage, it refuses to run while the node runs (see
:mod:`tahoe_cloud.node.runlock`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tahoe_cloud.backends.capabilities import IMaintenance
from tahoe_cloud.cli.capability import node_capability
from tahoe_cloud.cli.reactor_call import call
from tahoe_cloud.node.runlock import lock_node_directory

NAME = "clean"
HELP = (
    "Delete what crashes left in a node's backend storage, for backends that need it"
    " (the node must be stopped)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


async def clean(nodedir: Path, reactor: Any = None) -> str:
    """What ``clean`` prints; raises ``ConfigError`` / ``BackendError``."""
    config, capability = node_capability(nodedir, IMaintenance, NAME, "has nothing to clean")
    with lock_node_directory(config.nodedir, NAME):
        return await IMaintenance(capability).clean(config, reactor)


def main(args: argparse.Namespace) -> int:
    print(call(lambda reactor: clean(args.nodedir, reactor)))
    return 0
