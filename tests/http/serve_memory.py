"""Serve the storage resource over the memory backend on 127.0.0.1 (plain HTTP), for cross-checks.

``python -m tests.http.serve_memory SWISSNUM [--lease-view]`` prints the port
on its first line and serves until its standard input closes. With
``--lease-view`` the server runs on a test ``Clock`` (at 123456, as upstream's
mixins set it) and the test-only lease view listens too; its port is the
second line.
"""

from __future__ import annotations

import sys

from twisted.internet import reactor, stdio
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock

from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.http import lease_view_resource, storage_resource, storage_site
from tahoe_cloud.server.server import StorageServer


class _StopOnClose(Protocol):
    def connectionLost(self, reason: object = None) -> None:
        reactor.stop()


def main() -> None:
    swissnum = sys.argv[1].encode("ascii")
    clock = Clock()
    clock.advance(123456)
    server = StorageServer(MemoryBackend(), nodeid=b"n" * 20, clock=clock)
    site = storage_site(storage_resource(server, swissnum))
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
    print(port.getHost().port, flush=True)  # type: ignore[attr-defined]
    if "--lease-view" in sys.argv[2:]:
        view = storage_site(lease_view_resource(server, swissnum, test_clock=clock))
        print(reactor.listenTCP(0, view, interface="127.0.0.1").getHost().port, flush=True)  # type: ignore[arg-type,attr-defined]
    stdio.StandardIO(_StopOnClose())
    reactor.run()


if __name__ == "__main__":
    main()
