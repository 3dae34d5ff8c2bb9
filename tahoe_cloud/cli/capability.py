"""Finding what a node's backend can do, for the commands that need a capability.

The commands never test a backend's name: they ask the backend's plugin
whether it provides the capability's interface (``providedBy``), so a
third-party backend gets the command by providing it.
"""

from __future__ import annotations

from pathlib import Path

from zope.interface.interface import InterfaceClass

from tahoe_cloud.backends.registry import installed_plugins, load_backend_plugin
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.node.nodedir import open_node_directory


def backends_providing(interface: InterfaceClass) -> list[str]:
    """The names of the installed backends whose plugin provides ``interface``."""
    return [p.name for p in installed_plugins() if interface.providedBy(p.capabilities)]


def node_capability(
    nodedir: Path, interface: InterfaceClass, command: str, lacks: str
) -> tuple[NodeConfig, object]:
    """The node's configuration and its backend's provider of ``interface``.

    :param lacks: how to say the backend has no use for ``command``
        ("has nothing to clean").
    :raises ConfigError: on ``[storage] backend`` when the backend cannot be
        loaded or does not provide ``interface``.
    """
    config = open_node_directory(nodedir).config
    plugin = load_backend_plugin(config)
    if interface.providedBy(plugin.capabilities):
        return config, plugin.capabilities
    problem = f"backend {plugin.name!r} {lacks}"
    others = backends_providing(interface)
    if others:
        names = " and ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
        plural = "s" if len(others) > 1 else ""
        problem += f"; {command} applies to the {names} backend{plural} only"
    raise config.error("storage", "backend", problem)
