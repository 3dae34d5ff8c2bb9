"""``tahoe-cloud announcement``: the entry for the storage: list of a client's servers.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

from tahoe_cloud.node.nodedir import open_node_directory

NAME = "announcement"
HELP = (
    "Print this node's entry for a client's private/servers.yaml (paste it under 'storage:'). "
    "It contains the node's secret swissnum: give it only to its clients."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full",
        action="store_true",
        help="print a complete servers.yaml (with the 'storage:' line) instead of one entry",
    )
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


def main(args: argparse.Namespace) -> int:
    entry = open_node_directory(args.nodedir).announcement.to_yaml(indent=2)
    print(("storage:\n" + entry) if args.full else entry, end="")
    return 0
