"""Run INSIDE the stock tahoe-lafs 1.20 virtualenv: write shares with upstream's own code.

Usage: python upstream_write.py <storage_dir>
Prints a JSON manifest on stdout describing what was written (data and the
lease secrets/expirations each share should carry), so the tahoe-cloud test
can check that its disk backend reads the same bytes and leases.

Immutable v2 and mutable v2 come from upstream's StorageServer as a client
would drive it. Upstream never creates v1 containers any more, so the v1
cases start from upstream's own container classes given the v1 schema
(``ShareFile(..., schema=v1)``, ``MutableShareFile(..., schema=v1)``) and
are then filled and leased through the same StorageServer calls.
"""

import json
import os
import sys
from typing import Any

from allmydata.storage.common import storage_index_to_dir
from allmydata.storage.immutable import ShareFile
from allmydata.storage.immutable_schema import schema_from_version
from allmydata.storage.lease import LeaseInfo
from allmydata.storage.mutable import MutableShareFile
from allmydata.storage.mutable_schema import ALL_SCHEMAS as MUTABLE_SCHEMAS
from allmydata.storage.server import DEFAULT_RENEWAL_TIME, StorageServer
from twisted.internet.task import Clock

NODEID = b"\x11" * 20
START = 1_700_000_000


def expiry(clock):
    return int(clock.seconds()) + DEFAULT_RENEWAL_TIME


def secret(tag, n):
    return (tag + b"-%d-" % n).ljust(32, b"#")


def data_for(tag, size):
    return (tag * (size // len(tag) + 1))[:size]


def main(storedir):
    clock = Clock()
    clock.advance(START)
    ss = StorageServer(storedir, NODEID, clock=clock)
    manifest: dict[str, Any] = {"nodeid": NODEID.hex(), "entries": []}

    def lease_record(n, owner):
        return {
            "renew": secret(b"renew", n).hex(),
            "cancel": secret(b"cancel", n).hex(),
            "owner": owner,
        }

    # --- immutable v2, through allocate_buckets / BucketWriter -------------
    si = b"immutable-v2-si!"
    size = 3000
    _, writers = ss.allocate_buckets(si, secret(b"renew", 1), secret(b"cancel", 1), {0, 3}, size)
    shares = {}
    for shnum, bw in writers.items():
        data = data_for(b"imm-v2-%d|" % shnum, size)
        bw.write(0, data[:1000])
        bw.write(1000, data[1000:])
        bw.close()
        shares[shnum] = data.hex()
    t1 = expiry(clock)
    clock.advance(100)
    ss.add_lease(si, secret(b"renew", 2), secret(b"cancel", 2))  # owner 1
    t2 = expiry(clock)
    clock.advance(100)
    ss.add_lease(si, secret(b"renew", 1), secret(b"cancel", 1))  # renews lease 1
    t1 = expiry(clock)
    leases = [dict(lease_record(1, 0), expiration=t1), dict(lease_record(2, 1), expiration=t2)]
    manifest["entries"].append(
        {"kind": "immutable", "version": 2, "si": si.hex(), "shares": shares, "leases": leases}
    )

    # --- immutable v1, upstream's ShareFile with the v1 schema --------------
    si = b"immutable-v1-si!"
    size = 777
    shares = {}
    for shnum in (1, 9):
        path = os.path.join(ss.sharedir, storage_index_to_dir(si), str(shnum))
        sf = ShareFile(path, max_size=size, create=True, schema=schema_from_version(1))
        data = data_for(b"imm-v1-%d|" % shnum, size)
        sf.write_share_data(0, data)
        sf.add_lease(LeaseInfo(0, secret(b"renew", 3), secret(b"cancel", 3), expiry(clock), None))
        shares[shnum] = data.hex()
    t3 = expiry(clock)
    clock.advance(50)
    ss.add_lease(si, secret(b"renew", 4), secret(b"cancel", 4))
    t4 = expiry(clock)
    clock.advance(50)
    ss.add_lease(si, secret(b"renew", 3), secret(b"cancel", 3))
    t3 = expiry(clock)
    leases = [dict(lease_record(3, 0), expiration=t3), dict(lease_record(4, 1), expiration=t4)]
    manifest["entries"].append(
        {"kind": "immutable", "version": 1, "si": si.hex(), "shares": shares, "leases": leases}
    )

    # --- mutable v2 and v1 through slot_testv_and_readv_and_writev ---------
    v1_schema = next(s for s in MUTABLE_SCHEMAS if s.version == 1)
    for version, si in ((2, b"mutable-v2-si!!!"), (1, b"mutable-v1-si!!!")):
        we = secret(b"write-enabler-%d" % version, 0)
        if version == 1:
            for shnum in (0, 2):
                bucket = os.path.join(ss.sharedir, storage_index_to_dir(si))
                os.makedirs(bucket, exist_ok=True)
                MutableShareFile(os.path.join(bucket, str(shnum)), ss, schema=v1_schema).create(
                    NODEID, we
                )
        base = 10 * version
        data = {sh: data_for(b"mut-v%d-%d|" % (version, sh), 500) for sh in (0, 2)}
        vectors: dict[int, Any] = {sh: ([], [(0, d)], None) for sh, d in data.items()}
        ok, _ = ss.slot_testv_and_readv_and_writev(
            si, (we, secret(b"renew", base), secret(b"cancel", base)), vectors, []
        )
        assert ok
        expirations = {base: expiry(clock)}
        # Five more leases: four fixed slots fill up, two go to the extra block.
        for n in range(base + 1, base + 6):
            clock.advance(10)
            ss.add_lease(si, secret(b"renew", n), secret(b"cancel", n))
            expirations[n] = expiry(clock)
        # Grow the data past the extra-lease block (upstream moves it), with a hole.
        extra = {sh: data_for(b"tail-%d|" % sh, 300) for sh in data}
        vectors = {sh: ([], [(900, extra[sh])], None) for sh in data}
        clock.advance(10)
        ok, _ = ss.slot_testv_and_readv_and_writev(
            si, (we, secret(b"renew", base + 2), secret(b"cancel", base + 2)), vectors, []
        )
        assert ok
        expirations[base + 2] = expiry(clock)  # that write renewed lease base+2
        shares = {sh: (d + b"\0" * 400 + extra[sh]).hex() for sh, d in data.items()}
        leases = [
            dict(lease_record(n, 1), expiration=expirations[n]) for n in range(base, base + 6)
        ]
        manifest["entries"].append(
            {
                "kind": "mutable",
                "version": version,
                "si": si.hex(),
                "write_enabler": we.hex(),
                "shares": shares,
                "leases": leases,
            }
        )
    json.dump(manifest, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
