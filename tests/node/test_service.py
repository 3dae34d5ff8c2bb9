"""The node as a Twisted service: start and stop order, children, a failed start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import pytest_twisted
from twisted.application.service import Service

from tahoe_cloud.cli.create_node import create, find_free_port
from tahoe_cloud.errors import ConfigError
from tahoe_cloud.node.nodedir import open_node_directory
from tahoe_cloud.node.service import StorageNodeService


class Recorder(Service):
    """A child that notes, when it starts and stops, whether the node serves."""

    def __init__(self, events: list[str], node: StorageNodeService) -> None:
        self.events = events
        self.node = node

    def startService(self) -> None:
        super().startService()
        self.events.append(f"child started, serving={self.node.server is not None}")

    def stopService(self) -> None:
        super().stopService()
        self.events.append(f"child stopped, serving={self.node.server is not None}")


def new_node(tmp_path: Path, port: int, backend: str = "memory") -> StorageNodeService:
    from twisted.internet import reactor

    create(tmp_path / "node", nickname="", hostname="127.0.0.1", port=port, backend=backend)
    return StorageNodeService(open_node_directory(tmp_path / "node"), reactor)


def connects(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest_twisted.ensureDeferred
async def test_children_start_after_it_serves_and_stop_first(tmp_path: Path) -> None:
    port = find_free_port()
    node = new_node(tmp_path, port)
    events: list[str] = []
    Recorder(events, node).setServiceParent(node)
    node.startService()
    assert node.running
    await node.started
    assert events == ["child started, serving=True"]
    assert connects(port)
    await node.stopService()
    assert events[1:] == ["child stopped, serving=True"]
    assert not node.running and node.server is None
    assert not connects(port)
    await node.stopService()  # idempotent
    assert len(events) == 2


@pytest_twisted.ensureDeferred
async def test_a_failed_start_undoes_itself_and_starts_no_child(tmp_path: Path) -> None:
    node = new_node(tmp_path, find_free_port(), backend="nosuch")
    events: list[str] = []
    Recorder(events, node).setServiceParent(node)
    with pytest.raises(ConfigError, match="no storage backend is named 'nosuch'"):
        await node.start()
    assert not node.running and node.server is None and events == []
    await node.stop()
    assert events == []
