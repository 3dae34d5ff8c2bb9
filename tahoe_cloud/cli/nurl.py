"""``tahoe-cloud nurl``: print the node's NURLs, one per line (one per location hint)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tahoe_cloud.node.nodedir import open_node_directory

NAME = "nurl"
HELP = "Print the NURL(s) clients use to reach this node (they contain its secret swissnum)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


def main(args: argparse.Namespace) -> int:
    for nurl in open_node_directory(args.nodedir).nurls:
        print(nurl)
    return 0
