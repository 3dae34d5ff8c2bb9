"""The ``cloud.s3`` backend: shares in Amazon S3 or an S3-compatible service.

Not built yet: selecting it stops the node with a clear configuration error
instead of failing later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig


def create_backend(config: NodeConfig) -> NoReturn:
    """Refuse: the cloud.s3 backend is not available in this version."""
    raise config.error(
        "storage",
        "backend",
        "the cloud.s3 backend is not available in this version of tahoe-cloud yet; use 'disk'",
    )
