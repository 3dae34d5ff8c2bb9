"""Everything a command needs from one node directory, read and checked once.

A node directory is either one made by ``tahoe-cloud create-node`` or an
upstream Tahoe-LAFS node directory (served with upstream's identity, see
:mod:`tahoe_cloud.node.upstream`); both use the same ``tahoe.cfg``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from attrs import frozen

from tahoe_cloud.config import NodeConfig, read_node_config
from tahoe_cloud.errors import ConfigError
from tahoe_cloud.node.announcement import Announcement
from tahoe_cloud.node.identity import NodeIdentity, load_identity
from tahoe_cloud.node.nurl import LocationHint, build_nurl, parse_location
from tahoe_cloud.node.upstream import is_upstream_node_dir, load_upstream_identity

_TCP_PORT = re.compile(r"tcp:(\d+)(?::interface=([^:]+))?\Z")


@frozen
class NodeDirectory:
    """A node directory's configuration, identity and addresses."""

    config: NodeConfig
    identity: NodeIdentity
    hints: tuple[LocationHint, ...]
    upstream: bool

    @property
    def nurls(self) -> tuple[str, ...]:
        return tuple(
            build_nurl(self.identity.spki_hash, h, self.identity.swissnum) for h in self.hints
        )

    @property
    def announcement(self) -> Announcement:
        return Announcement.for_node(self.identity, self.config.nickname, self.nurls)

    @property
    def listen_endpoint(self) -> str:
        """``[node] tub.port``: the Twisted endpoint string the TLS listener uses."""
        port = self.config.tub_port
        if not port or port == "disabled":
            raise self.config.error(
                "node", "tub.port", "a storage node needs a listening endpoint, e.g. tcp:3457"
            )
        return port


def _default_location(config: NodeConfig) -> str:
    """Without ``tub.location``, a loopback ``tub.port`` says where clients connect."""
    match = _TCP_PORT.match(config.tub_port or "")
    if match and match.group(2) in ("127.0.0.1", "localhost"):
        return f"tcp:127.0.0.1:{match.group(1)}"
    raise config.error(
        "node", "tub.location", "missing: say where clients connect, e.g. tcp:HOST:PORT"
    )


def open_node_directory(nodedir: str | os.PathLike[str]) -> NodeDirectory:
    """Read ``nodedir``'s configuration and identity; every problem is a ConfigError."""
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(nodedir))))
    if not path.is_dir():
        raise ConfigError(str(path), None, None, "not a directory (create one with create-node)")
    config = read_node_config(path)
    upstream = is_upstream_node_dir(path)
    identity = load_upstream_identity(path) if upstream else load_identity(path / "private")
    location = config.tub_location or _default_location(config)
    hints = parse_location(location, path=str(config.config_path))
    return NodeDirectory(config=config, identity=identity, hints=hints, upstream=upstream)
