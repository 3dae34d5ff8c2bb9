"""An example third-party tahoe-cloud backend, registered as ``example.inmemory``.

It shows the things a backend package does (see docs/writing-a-backend.md):

1. provide ``IStorageBackend`` (here by reusing tahoe-cloud's in-memory
   backend, which implements every interface; a real backend implements
   ``IStorageBackend``, ``IShareSet``, ``IImmutableUpload``, ``IImmutableShare``
   and ``IMutableShare`` itself);
2. read its own settings from ``[storage]`` under its own prefix
   (``example.capacity``), claiming the prefix so none of its keys is
   reported as unknown;
3. offer optional capabilities: a preflight check for ``tahoe-cloud check``
   and a ``--example-capacity`` option for ``tahoe-cloud create-node``;
4. declare a ``BackendPlugin`` in the entry-point group
   ``tahoe_cloud.backends`` (in pyproject.toml).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from tahoe_cloud.backends.capabilities import INodeCreationOptions, IPreflightCheck, NodeSettings
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.backends.plugin import BackendPlugin
from tahoe_cloud.config.syntax import parse_size
from tahoe_cloud.errors import TahoeCloudError

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
    """The factory: build the backend from ``[storage] example.*``."""
    config.claim_keys("storage", KEY_PREFIX)
    capacity = config.get_size("storage", KEY_PREFIX + "capacity", DEFAULT_CAPACITY)
    if capacity <= 0:
        raise config.error("storage", KEY_PREFIX + "capacity", "must be more than 0 bytes")
    return ExampleBackend(capacity=capacity)


@implementer(IPreflightCheck, INodeCreationOptions)
class ExampleCapabilities:
    """What ``tahoe-cloud check`` and ``create-node`` can do for this backend."""

    subject = "the example settings"
    description = "shares in memory, lost when the node stops"

    async def check(self, config: NodeConfig, reactor: Any) -> str:
        """The settings are valid; there is nothing outside the process to reach."""
        backend = create_backend(config)
        return f"OK: {NAME} would keep up to {await backend.available_space()} bytes in memory"

    def add_arguments(self, group: argparse._ArgumentGroup) -> Sequence[argparse.Action]:
        """One option, written as ``example.capacity``."""
        return [
            group.add_argument(
                "--example-capacity", metavar="SIZE", help="most bytes to hold (default 1GiB)"
            )
        ]

    def node_settings(self, args: argparse.Namespace) -> NodeSettings:
        """``example.capacity`` if given; checked now so a typo leaves no node behind."""
        if args.example_capacity is None:
            return NodeSettings()
        try:
            capacity = parse_size(args.example_capacity)
        except ValueError as e:
            raise TahoeCloudError(f"--example-capacity: {e}") from None
        if capacity <= 0:
            raise TahoeCloudError("--example-capacity: must be more than 0 bytes")
        return NodeSettings(storage_lines=f"{KEY_PREFIX}capacity = {args.example_capacity}\n")


plugin = BackendPlugin(
    name=NAME,
    factory=create_backend,
    capabilities=ExampleCapabilities(),
    install_hint="pip install tahoe-cloud-example-backend",
)
