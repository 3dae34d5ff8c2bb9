"""Run INSIDE the stock tahoe-lafs 1.20 virtualenv: read shares with upstream's own code.

Reads a JSON request on stdin::

    {"storage_dir": "...",
     "entries": [{"si": "<hex>", "kind": "immutable"|"mutable",
                  "renew_candidates": ["<hex>", ...], "cancel_candidates": [...]}]}

and prints, for every storage index, what upstream's StorageServer sees:
each share's container version, data (immutable: get_buckets + read;
mutable: slot_readv) and leases in upstream's order, with the index of the
candidate secret each lease's renew/cancel secret matches (upstream's own
constant-time check), so no secret is echoed back. ``server_leases`` is what
upstream's server-level view (get_leases / get_slot_leases) reports.
"""

import json
import sys

from allmydata.storage.immutable import ShareFile
from allmydata.storage.lease import HashedLeaseInfo
from allmydata.storage.mutable import MutableShareFile
from allmydata.storage.server import StorageServer

EVERYTHING = 2**40


def describe_leases(leases, renew_candidates, cancel_candidates):
    out = []
    for lease in leases:
        renew = [i for i, c in enumerate(renew_candidates) if lease.is_renew_secret(c)]
        cancel = [i for i, c in enumerate(cancel_candidates) if lease.is_cancel_secret(c)]
        out.append(
            {
                "owner": lease.owner_num,
                "expiration": lease.get_expiration_time(),
                "renew": renew[0] if renew else None,
                "cancel": cancel[0] if cancel else None,
                "hashed": isinstance(lease, HashedLeaseInfo),
            }
        )
    return out


def main():
    request = json.load(sys.stdin)
    ss = StorageServer(request["storage_dir"], b"\x22" * 20)
    result = {}
    for entry in request["entries"]:
        si = bytes.fromhex(entry["si"])
        renew = [bytes.fromhex(c) for c in entry["renew_candidates"]]
        cancel = [bytes.fromhex(c) for c in entry["cancel_candidates"]]
        files = dict(ss.get_shares(si))
        shares = {}
        if entry["kind"] == "immutable":
            for shnum, reader in ss.get_buckets(si).items():
                sf = ShareFile(files[shnum])
                shares[shnum] = {
                    "version": sf._schema.version,
                    "length": reader.get_length(),
                    "data": reader.read(0, EVERYTHING).hex(),
                    "leases": describe_leases(sf.get_leases(), renew, cancel),
                }
        else:
            datav = ss.slot_readv(si, [], [(0, EVERYTHING)])
            for shnum, (data,) in datav.items():
                msf = MutableShareFile(files[shnum])
                with open(files[shnum], "rb") as f:
                    enabler, nodeid = msf._read_write_enabler_and_nodeid(f)
                shares[shnum] = {
                    "version": msf._schema.version,
                    "length": msf.get_length(),
                    "data": data.hex(),
                    "write_enabler_nodeid": nodeid.hex(),
                    "write_enabler_matches": enabler.hex() == entry.get("write_enabler"),
                    "leases": describe_leases(msf.get_leases(), renew, cancel),
                }
        # The server-level lease views (upstream reports the first share's leases).
        if entry["kind"] == "immutable":
            server_leases = ss.get_leases(si)
        else:
            server_leases = ss.get_slot_leases(si)
        shares["server_leases"] = describe_leases(server_leases, renew, cancel)
        result[entry["si"]] = {str(k): v for k, v in shares.items()}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
