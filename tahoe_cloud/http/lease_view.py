"""A TEST-ONLY view of lease state, and of the server's clock when tests drive it.

Upstream's conformance mixins (``allmydata/test/test_istorageserver.py``)
inspect leases through a hook into the server (``get_leases``,
``get_slot_leases``: a list of leases with ``get_expiration_time()``) and
move the server's clock (``fake_time``, ``fake_sleep``). Run against this
server over HTTP, they get the same through this resource:

- ``GET /leases/{si}`` -> CBOR ``{share number: [{"expiration": uint,
  "renew-secret-digest": bstr}, ...]}`` in the order the leases are stored
  (oldest first), ``{}`` when there are no shares. Digests are blake2b of the
  renew secret; clear secrets never leave the server.
- ``GET /clock`` -> CBOR ``{"now": number}``, and ``POST /clock/advance`` with
  CBOR ``{"seconds": uint}`` -> 204; only when a ``twisted.internet.task.Clock``
  was given (otherwise 404).

The node mounts this only when a test-only configuration asks for it, on a
listener of its own; it is never part of the storage resource. Requests need
the same ``Authorization`` swissnum header as the storage protocol.
"""

from __future__ import annotations

from typing import cast

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.web import http
from twisted.web.resource import IResource

from tahoe_cloud.http.async_bridge import Answer, AsyncLeaf, WebRequest, cbor_answer
from tahoe_cloud.http.body import read_body
from tahoe_cloud.http.cbor_codec import decode, require_cbor_content_type
from tahoe_cloud.http.errors import HTTPError
from tahoe_cloud.http.schemas import expect_map, expect_uint
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import Lease, StorageIndex


def _describe(lease: Lease) -> dict[str, object]:
    return {"expiration": lease.expiration, "renew-secret-digest": lease.to_hashed().renew_secret}


class LeaseViewResource(AsyncLeaf):
    """Answers the test-only lease and clock requests."""

    def __init__(
        self, server_: StorageServer, swissnum: bytes, clock: IReactorTime, test_clock: Clock | None
    ) -> None:
        super().__init__(swissnum, clock)
        self._server = server_
        self._test_clock = test_clock

    async def route(self, request: WebRequest) -> Answer:
        segments = list(request.postpath or [])
        method = request.method
        if len(segments) == 2 and segments[0] == b"leases" and method == b"GET":
            try:
                text = segments[1].decode("ascii")
            except UnicodeDecodeError:
                raise HTTPError(http.BAD_REQUEST, "bad storage index") from None
            leases = await self._server.get_leases(StorageIndex.from_text(text))
            return cbor_answer(
                {
                    shnum: [_describe(lease) for lease in found]
                    for shnum, found in sorted(leases.items())
                }
            )
        if self._test_clock is not None and segments[:1] == [b"clock"]:
            if segments == [b"clock"] and method == b"GET":
                return cbor_answer({"now": self._test_clock.seconds()})
            if segments == [b"clock", b"advance"] and method == b"POST":
                require_cbor_content_type(request.requestHeaders.getRawHeaders(b"content-type"))
                body = expect_map(decode(read_body(request, 1024)), "advance", {"seconds"})
                self._test_clock.advance(expect_uint(body["seconds"], "seconds"))
                return Answer(http.NO_CONTENT)
        raise HTTPError(http.NOT_FOUND, "no such resource")


def lease_view_resource(
    server_: StorageServer,
    swissnum: bytes,
    *,
    test_clock: Clock | None = None,
    clock: IReactorTime | None = None,
) -> IResource:
    """The TEST-ONLY lease view; ``test_clock``: the ``Clock`` the server was built with, if any."""
    if clock is None:
        from twisted.internet import reactor as default_reactor

        clock = cast(IReactorTime, default_reactor)
    assert clock is not None
    return LeaseViewResource(server_, swissnum, clock, test_clock)
