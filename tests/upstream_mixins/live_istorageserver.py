"""Run INSIDE the upstream tahoe-lafs 1.20 virtualenv under twisted.trial (NOT collected by pytest).

Upstream's own ``IStorageServer`` conformance mixins, pointed at a live
tahoe-cloud node over HTTPS: ``self.storage_client`` is upstream's
``_HTTPStorageServer`` built on upstream's ``StorageClientFactory`` from the
node's NURL (so TLS and SPKI pinning are upstream's too).

The mixins also inspect the server: ``self.server.get_leases(si)`` /
``get_slot_leases(si)`` and ``self.fake_time()`` / ``self.fake_sleep(s)``.
Here those go to the node's test-only lease view (a separate loopback
listener, enabled by ``[testing] lease_view.port``) with blocking requests;
the node runs on a fake clock (``[testing] fake_clock = true``) that only
``fake_sleep`` advances. Like upstream's in-process ``get_leases``, the view
reports the leases of the lowest-numbered share.

The node is described by the JSON file named in ``TAHOE_CLOUD_LIVE_NODE``:
``{"nurl": ..., "lease_view": "http://127.0.0.1:PORT", "swissnum": ...}``.
"""

import base64
import json
import os
import urllib.request
from typing import Any

import cbor2
from allmydata.storage.http_client import StorageClientFactory
from allmydata.storage_client import _HTTPStorageServer
from allmydata.test.common import AsyncTestCase
from allmydata.test.common_system import spin_until_cleanup_done
from allmydata.test.test_istorageserver import (
    IStorageServerImmutableAPIsTestsMixin,
    IStorageServerMutableAPIsTestsMixin,
    IStorageServerSharedAPIsTestsMixin,
)
from hyperlink import DecodedURL
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.web.client import HTTPConnectionPool


def _node():
    with open(os.environ["TAHOE_CLOUD_LIVE_NODE"]) as f:
        return json.load(f)


class _Lease:
    def __init__(self, expiration):
        self._expiration = expiration

    def get_expiration_time(self):
        return self._expiration


class LeaseView:
    """Stands in for upstream's in-process ``StorageServer`` where the mixins inspect it."""

    def __init__(self, url, swissnum):
        self._url = url
        self._auth = "Tahoe-LAFS " + base64.b64encode(swissnum.encode("ascii")).decode("ascii")

    def _call(self, method, path, body=None):
        request = urllib.request.Request(self._url + path, data=body, method=method)
        request.add_header("Authorization", self._auth)
        if body is not None:
            request.add_header("Content-Type", "application/cbor")
        with urllib.request.urlopen(request, timeout=10) as answer:
            data = answer.read()
        return cbor2.loads(data) if data else None

    def get_leases(self, storage_index):
        si = base64.b32encode(storage_index).decode("ascii").rstrip("=").lower()
        shares = self._call("GET", "/leases/" + si)
        if not shares:
            return []
        first = shares[min(shares)]
        return [_Lease(lease["expiration"]) for lease in first]

    get_slot_leases = get_leases

    def now(self):
        return self._call("GET", "/clock")["now"]

    def advance(self, seconds):
        self._call("POST", "/clock/advance", cbor2.dumps({"seconds": seconds}))


class _LiveNodeMixin:
    addCleanup: Any  # from the test case class it is mixed into

    @inlineCallbacks
    def setUp(self):
        AsyncTestCase.setUp(self)
        node = _node()
        # The test runner fails a test that leaves the reactor unclean: idle
        # connections time out quickly and are closed at the end, then the
        # reactor is given time to finish closing them (as upstream's own
        # system tests do, with its helper).
        pool = HTTPConnectionPool(reactor)
        pool.cachedConnectionTimeout = 0.1  # type: ignore[assignment]  # a float works
        pool.retryAutomatically = False
        self.addCleanup(spin_until_cleanup_done)
        self.addCleanup(pool.closeCachedConnections)
        factory = StorageClientFactory({"tcp": "tcp"}, None)
        client = yield Deferred.fromCoroutine(
            factory.create_storage_client(DecodedURL.from_text(node["nurl"]), reactor, pool)
        )
        self.storage_client = _HTTPStorageServer.from_http_client(client)
        self.server = LeaseView(node["lease_view"], node["swissnum"])

    def fake_time(self):
        return self.server.now()

    def fake_sleep(self, seconds):
        self.server.advance(seconds)


class SharedAPIsTests(_LiveNodeMixin, IStorageServerSharedAPIsTestsMixin, AsyncTestCase):
    """Upstream's shared-API tests against tahoe-cloud."""


class ImmutableAPIsTests(_LiveNodeMixin, IStorageServerImmutableAPIsTestsMixin, AsyncTestCase):
    """Upstream's immutable-API tests against tahoe-cloud."""


class MutableAPIsTests(_LiveNodeMixin, IStorageServerMutableAPIsTestsMixin, AsyncTestCase):
    """Upstream's mutable-API tests against tahoe-cloud."""
