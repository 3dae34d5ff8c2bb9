"""``tahoe-cloud clean``: delete what crashes left in a cloud.s3 node's bucket.

Unreferenced mutable chunks and lease objects of shares that were never
published. Objects younger than an hour are left alone (an upload may be
publishing them). Like every command that works on a node's storage, it
refuses to run while the node runs (see :mod:`tahoe_cloud.node.runlock`).
Unfinished multipart uploads are aborted by the node itself at every start;
``[storage] s3.clean_at_start`` runs this same clean-up, without the age
margin, at start.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tahoe_cloud.cli.cloud_s3 import cloud_s3_config
from tahoe_cloud.cli.reactor_call import call
from tahoe_cloud.node.runlock import lock_node_directory

NAME = "clean"
HELP = (
    "Delete objects crashes left in a cloud.s3 node's bucket"
    " (cloud.s3 only; the node must be stopped)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


async def clean(nodedir: Path, reactor: Any = None) -> str:
    """What ``clean`` prints; raises ``ConfigError`` / ``BackendError``."""
    config = cloud_s3_config(nodedir, "clean")
    from tahoe_cloud.backends.s3 import commands

    with lock_node_directory(config.nodedir, NAME):
        return await commands.clean(config, reactor)


def main(args: argparse.Namespace) -> int:
    print(call(lambda reactor: clean(args.nodedir, reactor)))
    return 0
