"""Serve the storage resource over the memory backend on 127.0.0.1 (plain HTTP), for cross-checks.

``python -m tests.http.serve_memory SWISSNUM`` prints the port on its first
line and serves until its standard input closes.
"""

from __future__ import annotations

import sys

from twisted.internet import reactor, stdio
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock

from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.http import storage_resource, storage_site
from tahoe_cloud.server.server import StorageServer


class _StopOnClose(Protocol):
    def connectionLost(self, reason: object = None) -> None:
        reactor.stop()


def main() -> None:
    server = StorageServer(MemoryBackend(), nodeid=b"n" * 20, clock=Clock())
    site = storage_site(storage_resource(server, sys.argv[1].encode("ascii")))
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    stdio.StandardIO(_StopOnClose())
    reactor.run()


if __name__ == "__main__":
    main()
