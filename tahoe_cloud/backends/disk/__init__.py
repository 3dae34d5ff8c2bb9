"""The ``disk`` storage backend (upstream Tahoe-LAFS's layout and container formats)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tahoe_cloud.backends.disk.backend import DiskBackend

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

__all__ = ["DiskBackend", "create_backend"]


def create_backend(config: NodeConfig) -> DiskBackend:
    """Entry point ``tahoe_cloud.backends: disk``: a backend over ``[storage] storage_dir``."""
    return DiskBackend(
        storage_dir=config.storage.storage_dir,
        reserved_space=config.storage.reserved_space,
    )
