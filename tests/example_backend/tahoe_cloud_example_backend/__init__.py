"""An example third-party tahoe-cloud backend, registered as ``example.inmemory``.

It shows the three things a backend package does (see docs/writing-a-backend.md):

1. provide ``IStorageBackend`` (here by reusing tahoe-cloud's in-memory
   backend, which implements every interface; a real backend implements
   ``IStorageBackend``, ``IShareSet``, ``IImmutableUpload``, ``IImmutableShare``
   and ``IMutableShare`` itself);
2. read its own settings from ``[storage]`` under its own prefix
   (``example.capacity``), claiming the prefix so none of its keys is
   reported as unknown;
3. declare a ``create_backend(config)`` factory in the entry-point group
   ``tahoe_cloud.backends`` (in pyproject.toml).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import implementer

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

NAME = "example.inmemory"
KEY_PREFIX = "example."
DEFAULT_CAPACITY = 1 << 30


@implementer(IStorageBackend)
class ExampleBackend(MemoryBackend):
    """Shares in memory, with a configurable capacity. Lost when the node stops."""

    name = NAME


def create_backend(config: NodeConfig) -> ExampleBackend:
    """The entry point: build the backend from ``[storage] example.*``."""
    config.claim_keys("storage", KEY_PREFIX)
    capacity = config.get_size("storage", KEY_PREFIX + "capacity", DEFAULT_CAPACITY)
    if capacity <= 0:
        raise config.error("storage", KEY_PREFIX + "capacity", "must be more than 0 bytes")
    return ExampleBackend(capacity=capacity)
