"""The benchmark's S3 request counts and cost per million files, without the rest of the benchmark.

Run: .venv/bin/python -m benchmarks.s3_read_cost   (about a minute; not part of the test suite)

Uses ``benchmarks`` as is: ``benchmarks.run.s3_requests`` (a ``tahoe-cloud
run`` node on moto behind the benchmark's counting proxy, driven by its
load generator over HTTPS) gives the same table and "$ per million 1 MB
files stored / read" as ``./dev bench``. In that workload every file is
read from the server that stored it, so its shares query is answered from
the listing cache ("warm"). The cold case is measured here too: the node
is restarted between the upload and the read (an empty cache, as after a
restart or an eviction), then queried and read.
"""

from __future__ import annotations

import math
import tempfile
import uuid
from collections import Counter
from pathlib import Path

from benchmarks import workloads
from benchmarks.loadgen import Connection, Nurl, Secrets, new_storage_index
from benchmarks.run import FULL, s3_requests
from benchmarks.s3 import CountingProxy, cost, create_bucket, node_settings
from benchmarks.servers import CloudServer, Moto


def _fmt(counts: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(counts.items())) or "none"


def cold_read(base: Path, moto_url: str, bucket: str, share: int) -> dict[str, Counter[str]]:
    """Upload one share, restart the node, then count its shares query and its download."""
    proxy = CountingProxy(moto_url)
    server = CloudServer(
        base / "cloud-s3-cold", backend="cloud.s3", s3=node_settings(proxy.url, bucket, "cold")
    )
    out: dict[str, Counter[str]] = {}
    try:
        si = new_storage_index()
        server.start()
        conn = Connection(Nurl.parse(server.nurl))
        conn.upload(si, Secrets.random(), share, workloads.PIECE, query=True)
        conn.close()
        server.stop()
        server.start()
        proxy.take()
        conn = Connection(Nurl.parse(server.nurl))
        conn.list_shares(si)
        out["shares query, cold (after a restart)"] = proxy.take()
        conn.list_shares(si)
        out["shares query again (cached)"] = proxy.take()
        conn.download(si, share, query=False)
        out["download"] = proxy.take()
        conn.close()
    finally:
        server.stop()
        proxy.stop()
    return out


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="tahoe-cloud-s3cost-"))
    moto = Moto(base / "moto.log")
    try:
        bucket = f"cost-{uuid.uuid4().hex[:12]}"
        create_bucket(moto.url, bucket)
        result = s3_requests(base, moto.url, bucket, FULL)
        print("| operation | requests | cost (USD) |\n|---|---|---|")
        for op in result["operations"]:
            print(f"| {op['operation']} | {_fmt(op['counts'])} | {op['cost']:.7f} |")
        stored, read = result["store_cost_per_million"], result["read_cost_per_million"]
        print(f"\nthe benchmark's figures (3-of-10, 1 MB files): ${stored:.2f} per million stored,")
        print(f"${read:.2f} per million read")
        share = math.ceil(FULL["cost_file"] / 3) + 4096
        cold = cold_read(base, moto.url, bucket, share)
        print()
        for label, counts in cold.items():
            print(f"| {label} | {_fmt(counts)} | {cost(counts):.7f} |")
        cold_query = cost(cold["shares query, cold (after a restart)"])
        cold_cost = 10 * cold_query + 3 * cost(cold["download"])
        print("\ncold (every server restarted since it stored the file):")
        print(f"${cold_cost * 1e6:.2f} per million read")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
