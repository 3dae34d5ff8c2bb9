"""A cap on simultaneous connections to the storage listener.

Every open connection costs memory (its TLS state, its buffers, a request
being read) and a file descriptor, so a client opening thousands could
exhaust either. Past the cap a new connection is closed at once, before its
TLS handshake; clients retry, as they do after any dropped connection.
"""

from __future__ import annotations

import resource
from typing import Any

from twisted.internet.interfaces import IAddress
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

_log = Logger(namespace="tahoe_cloud.http")

#: File descriptors kept beyond the connections (share files, S3 connections, logs).
_SPARE_FDS = 256


class ConnectionLimit(WrappingFactory):
    """Wraps a server factory; refuses connections beyond ``limit`` open ones."""

    def __init__(self, wrapped: Any, limit: int) -> None:
        super().__init__(wrapped)  # type: ignore[no-untyped-call]
        self.limit = limit
        self.refused = 0

    @property
    def open_connections(self) -> int:
        return len(self.protocols)

    def buildProtocol(self, addr: IAddress | None) -> ProtocolWrapper:
        if len(self.protocols) >= self.limit:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                _log.warn(
                    "{limit} connections open (max_connections): refused a new one"
                    " ({refused} refused so far)",
                    limit=self.limit,
                    refused=self.refused,
                )
            return None  # type: ignore[return-value]  # twisted closes the connection
        return super().buildProtocol(addr)


def ensure_file_limit(connections: int) -> None:
    """Raise the soft open-files limit (up to the hard one) so ``connections`` fit."""
    want = connections + _SPARE_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if new < want:
        _log.warn(
            "the open-files limit ({limit}) is below max_connections + {spare}:"
            " raise it (ulimit -n) or lower max_connections",
            limit=new,
            spare=_SPARE_FDS,
        )
