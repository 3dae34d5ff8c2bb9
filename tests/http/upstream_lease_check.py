"""Upstream's mixin lease tests, replayed with the stock client and ``LeaseViewHook``.

Run with the upstream virtualenv's Python:
``python upstream_lease_check.py http://127.0.0.1:STORAGE http://127.0.0.1:VIEW SWISSNUM``
against ``serve_memory.py SWISSNUM --lease-view``. Shows that the test-only
view gives the mixins what they read from ``self.server``.
"""

from __future__ import annotations

import os
import sys

from allmydata.storage.http_client import StorageClient
from allmydata.storage_client import _HTTPStorageServer
from hyperlink import DecodedURL
from treq.client import HTTPClient
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import react
from twisted.web.client import Agent, HTTPConnectionPool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from upstream_lease_hook import LeaseViewHook  # type: ignore[import-not-found]

MONTH = 31 * 24 * 60 * 60


async def check(reactor, base: str, view: str, swissnum: bytes) -> None:
    pool = HTTPConnectionPool(reactor, persistent=False)
    client = StorageClient(
        DecodedURL.from_text(base), swissnum, HTTPClient(Agent(reactor, pool=pool)), pool, reactor
    )
    server = _HTTPStorageServer.from_http_client(client)
    hook = LeaseViewHook(view, swissnum)

    async def create_share():
        si, renew, cancel = os.urandom(16), os.urandom(32), os.urandom(32)
        _, writers = await server.allocate_buckets(si, renew, cancel, {0}, 10, None)
        await writers[0].callRemote("write", 0, b"0123456789")
        await writers[0].callRemote("close")
        return si, renew, cancel

    si, _, _ = await create_share()
    [lease] = hook.get_leases(si)
    assert lease.get_expiration_time() - hook.fake_time() > MONTH - 10
    print("ok: allocate creates a lease")

    missing = os.urandom(16)
    assert hook.get_leases(missing) == []
    await server.add_lease(missing, os.urandom(32), os.urandom(32))
    assert hook.get_leases(missing) == []
    print("ok: add_lease on a missing storage index does nothing")

    si, renew, cancel = await create_share()
    [lease] = hook.get_leases(si)
    initial = lease.get_expiration_time()
    hook.fake_sleep(178)
    await server.add_lease(si, renew, cancel)
    [lease] = hook.get_leases(si)
    assert lease.get_expiration_time() - initial == 178
    print("ok: add_lease renews")

    si, _, _ = await create_share()
    [lease] = hook.get_leases(si)
    initial = lease.get_expiration_time()
    hook.fake_sleep(167)
    await server.add_lease(si, os.urandom(32), os.urandom(32))
    [lease1, lease2] = hook.get_leases(si)
    assert lease1.get_expiration_time() == initial
    assert lease2.get_expiration_time() - initial == 167
    print("ok: add_lease with new secrets adds a second lease, after the first")

    msi = os.urandom(16)
    secrets = (os.urandom(32), os.urandom(32), os.urandom(32))
    written, _ = await server.slot_testv_and_readv_and_writev(
        msi, secrets, {0: ([], [(0, b"abcdefg")], 7)}, []
    )
    assert written
    [lease] = hook.get_slot_leases(msi)
    assert lease.get_expiration_time() - hook.fake_time() > MONTH - 10
    initial = lease.get_expiration_time()
    hook.fake_sleep(17)
    written, _ = await server.slot_testv_and_readv_and_writev(
        msi, secrets, {0: ([], [(0, b"1234567")], 7)}, []
    )
    [lease] = hook.get_slot_leases(msi)
    assert lease.get_expiration_time() - initial == 17
    hook.fake_sleep(19)
    renewed = lease.get_expiration_time()
    others = (secrets[0], os.urandom(32), os.urandom(32))
    written, _ = await server.slot_testv_and_readv_and_writev(
        msi, others, {0: ([], [(0, b"1234567")], 7)}, []
    )
    [lease1, lease2] = hook.get_slot_leases(msi)
    assert lease1.get_expiration_time() == renewed
    assert lease2.get_expiration_time() - renewed == 19
    print("ok: mutable writes create, renew and add leases")
    await pool.closeCachedConnections()


def main(reactor, base: str, view: str, swissnum: str) -> Deferred[None]:
    return ensureDeferred(check(reactor, base, view, swissnum.encode("ascii")))


if __name__ == "__main__":
    react(main, sys.argv[1:4])
