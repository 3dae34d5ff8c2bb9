"""``tahoe-cloud clean``: delete what crashes left in a cloud.s3 node's bucket.

Unreferenced mutable chunks and lease objects of shares that were never
published. Safe while the node runs: objects younger than an hour are left
alone (an upload may be publishing them). Unfinished multipart uploads are
aborted by the node itself at every start; ``[storage] s3.clean_at_start``
runs this same clean-up, without the age margin, at start.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tahoe_cloud.cli.reactor_call import call
from tahoe_cloud.node.nodedir import open_node_directory

NAME = "clean"
HELP = (
    "Delete objects crashes left in a cloud.s3 node's bucket (cloud.s3 only; safe while running)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


async def clean(nodedir: Path, reactor: Any = None) -> str:
    """What ``clean`` prints; raises ``ConfigError`` / ``BackendError``."""
    config = open_node_directory(nodedir).config
    if config.storage.backend != "cloud.s3":
        raise config.error(
            "storage",
            "backend",
            "clean applies to the cloud.s3 backend only;"
            f" this node uses {config.storage.backend!r}",
        )
    from tahoe_cloud.backends.s3 import commands

    return await commands.clean(config, reactor)


def main(args: argparse.Namespace) -> int:
    print(call(lambda reactor: clean(args.nodedir, reactor)))
    return 0
