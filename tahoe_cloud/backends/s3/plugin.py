"""The ``cloud.s3`` entry point: its factory and what the commands can do with it.

``check``, ``create-container`` and ``clean`` run ``commands``; ``create-node
--backend cloud.s3`` takes the ``--s3-*`` options, writes the ``s3.*`` keys
and stores the secret access key in ``private/s3secret``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from tahoe_cloud.backends.capabilities import (
    IContainerCreation,
    IMaintenance,
    INodeCreationOptions,
    IPreflightCheck,
    NodeSettings,
    read_secret,
)
from tahoe_cloud.backends.plugin import BackendPlugin
from tahoe_cloud.backends.s3 import commands
from tahoe_cloud.backends.s3.config import create_backend, render_storage_lines
from tahoe_cloud.errors import TahoeCloudError

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

NAME = "cloud.s3"
SECRET_FILE = "s3secret"  # noqa: S105 - the file name, not a secret
_REQUIRED = ("s3_bucket", "s3_access_key_id")


@implementer(IPreflightCheck, IContainerCreation, IMaintenance, INodeCreationOptions)
class S3Capabilities:
    """Everything the ``tahoe-cloud`` commands can do for a cloud.s3 node."""

    subject = "the S3 settings"
    container = "the bucket"
    description = "Amazon S3 or an S3-compatible service; see docs/s3.md"

    async def check(self, config: NodeConfig, reactor: Any) -> str:
        """URL, credentials, bucket, clock, conditional writes and the ownership marker."""
        return await commands.check(config, reactor)

    async def create_container(self, config: NodeConfig, reactor: Any) -> str:
        """The configured bucket, in the configured region."""
        return await commands.create_container(config, reactor)

    async def clean(self, config: NodeConfig, reactor: Any) -> str:
        """Orphaned objects and stale multipart uploads older than an hour."""
        return await commands.clean(config, reactor)

    def add_arguments(self, group: argparse._ArgumentGroup) -> Sequence[argparse.Action]:
        """``--s3-*``; the secret has a file option only, never a value on the command line."""
        return [
            group.add_argument("--s3-bucket", metavar="B", help="bucket name (required)"),
            group.add_argument("--s3-access-key-id", metavar="K", help="access key id (required)"),
            group.add_argument(
                "--s3-url", metavar="U", help="service URL (default https://s3.amazonaws.com)"
            ),
            group.add_argument("--s3-region", metavar="R", help="region (default us-east-1)"),
            group.add_argument(
                "--s3-prefix", metavar="P", help="key prefix inside the bucket (default none)"
            ),
            group.add_argument(
                "--s3-secret-file",
                metavar="F",
                type=Path,
                help="file holding the secret access key (default: read it from standard input)",
            ),
        ]

    def node_settings(self, args: argparse.Namespace) -> NodeSettings:
        """The ``s3.*`` lines and ``private/s3secret``, all checked before anything is written."""
        for option in _REQUIRED:
            if not getattr(args, option):
                flag = "--" + option.replace("_", "-")
                raise TahoeCloudError(f"{flag} is required with --backend {NAME}")
        try:
            lines = render_storage_lines(
                bucket=args.s3_bucket,
                access_key_id=args.s3_access_key_id,
                url=args.s3_url,
                region=args.s3_region,
                prefix=args.s3_prefix,
            )
        except ValueError as e:
            raise TahoeCloudError(str(e)) from None
        secret = read_secret(
            args.s3_secret_file,
            option="--s3-secret-file",
            prompt="S3 secret access key (not echoed): ",
        )
        return NodeSettings(storage_lines=lines, private_files={SECRET_FILE: secret + "\n"})


plugin = BackendPlugin(
    name=NAME,
    factory=create_backend,
    capabilities=S3Capabilities(),
    install_hint="reinstall tahoe-cloud with its dependencies (pip install tahoe-cloud)",
)
