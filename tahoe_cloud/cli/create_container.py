"""``tahoe-cloud create-container``: create the container a node's backend keeps shares in.

For a backend whose plugin provides ``IContainerCreation`` (an object
store's bucket, say; one that exists and is the operator's is not an
error). Other backends have no container to create, and the command says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tahoe_cloud.backends.capabilities import IContainerCreation
from tahoe_cloud.cli.capability import node_capability
from tahoe_cloud.cli.reactor_call import call
from tahoe_cloud.node.runlock import lock_node_directory

NAME = "create-container"
HELP = (
    "Create the container (a bucket, say) a node's backend keeps its shares in,"
    " for backends that have one."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


async def create_container(nodedir: Path, reactor: Any = None) -> str:
    """What ``create-container`` prints; raises ``ConfigError`` / ``BackendError``."""
    config, capability = node_capability(
        nodedir, IContainerCreation, NAME, "has no container to create"
    )
    with lock_node_directory(config.nodedir, NAME):
        return await IContainerCreation(capability).create_container(config, reactor)


def main(args: argparse.Namespace) -> int:
    print(call(lambda reactor: create_container(args.nodedir, reactor)))
    return 0
