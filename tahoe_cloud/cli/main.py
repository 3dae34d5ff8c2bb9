"""``tahoe-cloud``: the entry point declared in setup.cfg; one module per subcommand.

Every command reports an expected failure (bad configuration, an existing node
directory...) as ONE line on stderr and exits 1; argparse usage errors exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tahoe_cloud.cli import (
    announcement,
    check,
    clean,
    create_container,
    create_node,
    nurl,
    run,
)
from tahoe_cloud.errors import TahoeCloudError

_COMMANDS = (create_node, run, check, create_container, clean, nurl, announcement)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tahoe-cloud",
        description="A Tahoe-LAFS storage server with pluggable share storage.",
    )
    commands = parser.add_subparsers(dest="command", title="commands", required=True)
    for module in _COMMANDS:
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns (and, as a console script, exits with) its status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except TahoeCloudError as e:
        print(f"tahoe-cloud {args.command}: {e}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
