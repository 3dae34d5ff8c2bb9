"""The node's lease checker child: present iff the backend can enumerate, report only, saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.logger import capturedLogs, formatEvent

from tahoe_cloud.backends.capabilities import IShareEnumeration
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.cli.create_node import create, find_free_port
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.node.lease_checker import SERVICE_NAME, LeaseCheckerService
from tahoe_cloud.node.nodedir import open_node_directory
from tahoe_cloud.node.service import StorageNodeService
from tahoe_cloud.testing.support import new_si, upload_share


class PlainBackend:
    """A memory backend that does not offer ``IShareEnumeration``."""

    def __init__(self) -> None:
        self._inner = MemoryBackend()

    def __getattr__(self, name: str) -> Any:
        if name == "storage_indexes" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def new_node(tmp_path: Path, backend: Any, extra: str = "") -> StorageNodeService:
    create(
        tmp_path / "node",
        nickname="",
        hostname="127.0.0.1",
        port=find_free_port(),
        backend="memory",
    )
    if extra:
        cfg = tmp_path / "node" / "tahoe.cfg"
        cfg.write_text(cfg.read_text().replace("[storage]\n", f"[storage]\n{extra}", 1))

    def factory(config: NodeConfig) -> Any:
        return backend

    return StorageNodeService(
        open_node_directory(tmp_path / "node"),
        reactor,
        backend_factory=factory,
        lease_checker_options={"initial_delay": 0.2, "minimum_cycle_time": 3600},
    )


async def until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("timed out")


EXPIRY_ON = "expire.enabled = true\nexpire.mode = cutoff-date\nexpire.cutoff_date = 2100-01-01\n"


def children(node: StorageNodeService) -> list[Any]:
    return [c for c in node if isinstance(c, LeaseCheckerService)]


@pytest_twisted.ensureDeferred
async def test_the_checker_runs_report_only_and_saves_its_state(tmp_path: Path) -> None:
    backend = MemoryBackend()
    assert IShareEnumeration.providedBy(backend)
    node = new_node(
        tmp_path,
        backend,
        EXPIRY_ON,
    )
    await node.start()
    try:
        # A share whose only lease is expired under the configured policy.
        si = new_si()
        assert node.server is not None
        await upload_share(node.server, si, 0, b"data")
        [child] = children(node)
        assert node.getServiceNamed(SERVICE_NAME) is child
        assert child.running and not child.runner.policy.enabled
        state = tmp_path / "node" / "lease_checker.json"
        await until(lambda: state.exists() and json.loads(state.read_text())["history"])
    finally:
        await node.stop()
    assert not child.running
    [cycle] = json.loads(state.read_text())["history"]
    assert cycle["report_only"] is True
    assert cycle["storage_indexes_examined"] == 1
    assert cycle["kinds"]["immutable"]["shares_reclaimed"] == 1  # would be, but is not:
    assert list(backend.shares[si]) == [0]


@pytest_twisted.ensureDeferred
async def test_no_checker_without_enumeration(tmp_path: Path) -> None:
    backend = PlainBackend()
    assert not IShareEnumeration.providedBy(backend)
    node = new_node(tmp_path, backend, EXPIRY_ON)
    with capturedLogs() as events:
        await node.start()
    try:
        assert children(node) == []
        lines = [formatEvent(e) for e in events]
        assert any("lease checker cannot run on the memory backend" in line for line in lines)
    finally:
        await node.stop()
    assert not (tmp_path / "node" / "lease_checker.json").exists()


@pytest_twisted.ensureDeferred
async def test_no_checker_while_expiry_is_off(tmp_path: Path) -> None:
    node = new_node(tmp_path, MemoryBackend())
    with capturedLogs() as events:
        await node.start()
    try:
        assert children(node) == []
        lines = [formatEvent(e) for e in events]
        assert any("lease checker off: expire.enabled is false" in line for line in lines)
    finally:
        await node.stop()
    assert not (tmp_path / "node" / "lease_checker.json").exists()
