"""The node's lease checker: a child service running ``ExpiryCycleRunner`` (report only).

``StorageNodeService`` adds it once the node serves, when the backend
provides ``IShareEnumeration``; its state file is ``<nodedir>/lease_checker.json``
for every backend (see ``tahoe_cloud.server.expiry_cycle`` for what it holds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred

from tahoe_cloud.server.expiry_cycle import ExpiryCycleRunner

#: The state file's name, in the node directory.
STATE_FILENAME = "lease_checker.json"
SERVICE_NAME = "lease-checker"


def state_path(nodedir: Path) -> Path:
    return nodedir / STATE_FILENAME


class LeaseCheckerService(Service):
    """Starts the runner's cycles; stopping waits for the storage index in progress and saves."""

    def __init__(self, runner: ExpiryCycleRunner) -> None:
        self.runner = runner
        self.setName(SERVICE_NAME)  # type: ignore[no-untyped-call]

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.runner.start()

    def stopService(self) -> Deferred[Any]:
        super().stopService()  # type: ignore[no-untyped-call]
        return Deferred.fromCoroutine(self.runner.stop())
