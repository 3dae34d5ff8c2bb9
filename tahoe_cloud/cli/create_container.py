"""``tahoe-cloud create-container``: create the bucket a cloud.s3 node is configured with.

It creates the bucket in the configured ``s3.region`` and says clearly when
the bucket already exists. It has no meaning for other backends.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tahoe_cloud.cli.reactor_call import call
from tahoe_cloud.node.nodedir import open_node_directory

NAME = "create-container"
HELP = "Create the S3 bucket a cloud.s3 node is configured to use (cloud.s3 only)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


async def create_container(nodedir: Path, reactor: Any = None) -> str:
    """What ``create-container`` prints; raises ``ConfigError`` / ``BackendError``."""
    config = open_node_directory(nodedir).config
    if config.storage.backend != "cloud.s3":
        raise config.error(
            "storage",
            "backend",
            f"create-container applies to the cloud.s3 backend only; this node uses"
            f" {config.storage.backend!r}, which has no container to create",
        )
    from tahoe_cloud.backends.s3 import commands

    return await commands.create_container(config, reactor)


def main(args: argparse.Namespace) -> int:
    print(call(lambda reactor: create_container(args.nodedir, reactor)))
    return 0
