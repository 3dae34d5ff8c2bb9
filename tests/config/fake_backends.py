"""Backend factories and plugins, some broken, for the registry tests (entry-point values)."""

import argparse
from collections.abc import Sequence

from zope.interface import implementer

from tahoe_cloud.backends.capabilities import INodeCreationOptions, NodeSettings
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.backends.plugin import BackendPlugin
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.errors import TahoeCloudError

NOT_CALLABLE = 42


def returns_not_a_backend(config: NodeConfig) -> object:
    return {"shares": []}


def raises_runtime_error(config: NodeConfig) -> object:
    raise RuntimeError("the factory broke")


def raises_config_error(config: NodeConfig) -> object:
    raise config.error("storage", "fake.url", "is required")


def reads_its_keys(config: NodeConfig) -> MemoryBackend:
    config.get("storage", "fake.url")
    return MemoryBackend()


def needs_a_missing_package(config: NodeConfig) -> MemoryBackend:
    import tahoe_cloud_no_such_dependency  # type: ignore[import-not-found]  # noqa: F401

    return MemoryBackend()


@implementer(INodeCreationOptions)
class TokenOptions:
    """create-node options of a backend that keeps a token in private/."""

    description = "a fake backend with a secret"

    def add_arguments(self, group: argparse._ArgumentGroup) -> Sequence[argparse.Action]:
        return [
            group.add_argument("--fake-url"),
            group.add_argument("--fake-verbose", action="store_true"),
        ]

    def node_settings(self, args: argparse.Namespace) -> NodeSettings:
        if not args.fake_url:
            raise TahoeCloudError("--fake-url is required")
        return NodeSettings(
            storage_lines=f"fake.url = {args.fake_url}\n",
            private_files={"fake-token": "t0ken\n"},
        )


WITH_OPTIONS = BackendPlugin(name="fake", factory=reads_its_keys, capabilities=TokenOptions())
MISSING_PACKAGE = BackendPlugin(
    name="needy", factory=needs_a_missing_package, install_hint="pip install needy-backend"
)
# Registered under another name than its own.
MISNAMED = BackendPlugin(name="other", factory=reads_its_keys)


@implementer(INodeCreationOptions)
class OverwritesTheSwissnum:
    """create-node options of a backend that asks for a file it may not write."""

    description = "a fake backend with a bad private file"

    def add_arguments(self, group: argparse._ArgumentGroup) -> Sequence[argparse.Action]:
        return []

    def node_settings(self, args: argparse.Namespace) -> NodeSettings:
        return NodeSettings(private_files={"swissnum": "mine\n"})


BAD_PRIVATE_FILE = BackendPlugin(
    name="greedy", factory=reads_its_keys, capabilities=OverwritesTheSwissnum()
)
