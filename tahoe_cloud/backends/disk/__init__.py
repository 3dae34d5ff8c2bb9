"""The ``disk`` storage backend (upstream Tahoe-LAFS's layout and container formats)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tahoe_cloud.backends.disk.backend import DiskBackend
from tahoe_cloud.backends.plugin import BackendPlugin

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

__all__ = ["DiskBackend", "create_backend", "plugin"]


def create_backend(config: NodeConfig) -> DiskBackend:
    """The ``disk`` factory: a backend over ``[storage] storage_dir``."""
    return DiskBackend(
        storage_dir=config.storage.storage_dir,
        reserved_space=config.storage.reserved_space,
    )


#: Entry point ``tahoe_cloud.backends: disk``. No capabilities: ``check`` starts
#: and stops it, and there is no container to create and nothing to clean.
plugin = BackendPlugin(name="disk", factory=create_backend)
