"""The node's configuration: ``NODEDIR/tahoe.cfg`` and the secrets in ``NODEDIR/private/``.

``read_node_config(nodedir)`` returns a ``NodeConfig``; its ``storage``
attribute is the checked [storage] section (``StorageConfig``). See
docs/configuration.md for every key.
"""

from tahoe_cloud.config.node import (
    NodeConfig,
    read_node_config,
    read_secret_file,
    warn_if_exposed,
)
from tahoe_cloud.config.storage import ExpirationConfig, StorageConfig

__all__ = [
    "ExpirationConfig",
    "NodeConfig",
    "StorageConfig",
    "read_node_config",
    "read_secret_file",
    "warn_if_exposed",
]
