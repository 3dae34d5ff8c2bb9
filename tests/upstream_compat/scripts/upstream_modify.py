"""Run INSIDE the stock tahoe-lafs 1.20 virtualenv: change shares with upstream's server.

Reads a JSON request on stdin::

    {"storage_dir": "...", "now": <unix seconds>,
     "add_lease": [{"si": "<hex>", "renew": "<hex>", "cancel": "<hex>"}],
     "mutable_writes": [{"si": "<hex>", "write_enabler": "<hex>", "renew": "<hex>",
                         "cancel": "<hex>", "shnum": n, "offset": n, "data": "<hex>"}]}

applies each through upstream's StorageServer (add_lease,
slot_testv_and_readv_and_writev) and prints {"expiration": <new leases' expiration>}.
Used to show upstream keeps working on containers tahoe-cloud wrote.
"""

import json
import sys
from typing import Any

from allmydata.storage.server import DEFAULT_RENEWAL_TIME, StorageServer
from twisted.internet.task import Clock


def main():
    request = json.load(sys.stdin)
    clock = Clock()
    clock.advance(request["now"])
    ss = StorageServer(request["storage_dir"], b"\x44" * 20, clock=clock)
    for item in request["add_lease"]:
        ss.add_lease(
            bytes.fromhex(item["si"]), bytes.fromhex(item["renew"]), bytes.fromhex(item["cancel"])
        )
    for item in request["mutable_writes"]:
        secrets = tuple(bytes.fromhex(item[k]) for k in ("write_enabler", "renew", "cancel"))
        vectors: dict[int, Any] = {
            item["shnum"]: ([], [(item["offset"], bytes.fromhex(item["data"]))], None)
        }
        ok, _ = ss.slot_testv_and_readv_and_writev(bytes.fromhex(item["si"]), secrets, vectors, [])
        assert ok
    json.dump({"expiration": request["now"] + DEFAULT_RENEWAL_TIME}, sys.stdout)


if __name__ == "__main__":
    main()
