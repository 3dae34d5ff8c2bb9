"""What upstream's conformance mixins need from ``self.server``, over the test-only lease view.

For use from the upstream virtualenv (stdlib and cbor2 only). The mixins in
``allmydata/test/test_istorageserver.py`` call, synchronously,
``self.server.get_leases(si)`` / ``self.server.get_slot_leases(si)`` and
``lease.get_expiration_time()``, and move time with ``fake_time()`` /
``fake_sleep()``. ``LeaseViewHook(base_url, swissnum)`` provides those by
blocking HTTP calls to ``tahoe_cloud.http.lease_view`` running in another
process (blocking is fine there: the server does not share the test's reactor).
"""

from __future__ import annotations

import urllib.request
from base64 import b64encode
from typing import Any

import cbor2


def _b32(raw: bytes) -> str:
    from base64 import b32encode

    return b32encode(raw).decode("ascii").rstrip("=").lower()


class ViewedLease:
    """Quacks like upstream's lease info objects as far as the mixins look."""

    def __init__(self, expiration: int, renew_secret_digest: bytes) -> None:
        self._expiration = expiration
        self.renew_secret_digest = renew_secret_digest

    def get_expiration_time(self) -> int:
        return self._expiration


class LeaseViewHook:
    def __init__(self, base_url: str, swissnum: bytes) -> None:
        self._base = base_url.rstrip("/")
        self._auth = b"Tahoe-LAFS " + b64encode(swissnum)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else cbor2.dumps(body)
        request = urllib.request.Request(self._base + path, data=data, method=method)
        request.add_header("Authorization", self._auth.decode("ascii"))
        if data is not None:
            request.add_header("Content-Type", "application/cbor")
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return cbor2.loads(raw) if raw else None

    def _leases(self, storage_index: bytes) -> list[ViewedLease]:
        # Upstream returns the leases of the first share it finds; every share of
        # one storage index carries the same leases in these tests.
        shares = self._call("GET", f"/leases/{_b32(storage_index)}")
        if not shares:
            return []
        first = shares[min(shares)]
        return [ViewedLease(e["expiration"], e["renew-secret-digest"]) for e in first]

    def get_leases(self, storage_index: bytes) -> list[ViewedLease]:
        return self._leases(storage_index)

    def get_slot_leases(self, storage_index: bytes) -> list[ViewedLease]:
        return self._leases(storage_index)

    def fake_time(self) -> float:
        return float(self._call("GET", "/clock")["now"])

    def fake_sleep(self, seconds: int) -> None:
        self._call("POST", "/clock/advance", {"seconds": seconds})
