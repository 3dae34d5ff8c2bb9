"""``tahoe-cloud create-container``: create the bucket a cloud.s3 node is configured with.

It creates the bucket in the configured ``s3.region`` and says clearly when
the bucket already exists. It has no meaning for other backends.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tahoe_cloud.cli.cloud_s3 import cloud_s3_config
from tahoe_cloud.cli.reactor_call import call
from tahoe_cloud.node.runlock import lock_node_directory

NAME = "create-container"
HELP = "Create the S3 bucket a cloud.s3 node is configured to use (cloud.s3 only)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


async def create_container(nodedir: Path, reactor: Any = None) -> str:
    """What ``create-container`` prints; raises ``ConfigError`` / ``BackendError``."""
    config = cloud_s3_config(nodedir, "create-container")
    from tahoe_cloud.backends.s3 import commands

    with lock_node_directory(config.nodedir, NAME):
        return await commands.create_container(config, reactor)


def main(args: argparse.Namespace) -> int:
    print(call(lambda reactor: create_container(args.nodedir, reactor)))
    return 0
