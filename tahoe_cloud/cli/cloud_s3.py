"""What the cloud.s3-only commands (``create-container``, ``clean``) share."""

from __future__ import annotations

from pathlib import Path

from tahoe_cloud.config import NodeConfig
from tahoe_cloud.node.nodedir import open_node_directory


def cloud_s3_config(nodedir: Path, command: str) -> NodeConfig:
    """The node's configuration, or a ``ConfigError`` on ``backend`` if it is not cloud.s3."""
    config = open_node_directory(nodedir).config
    if config.storage.backend != "cloud.s3":
        raise config.error(
            "storage",
            "backend",
            f"{command} applies to the cloud.s3 backend only;"
            f" this node uses {config.storage.backend!r}",
        )
    return config
