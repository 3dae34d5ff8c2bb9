"""Run every benchmark in one go and write docs/benchmarks.md (``./dev bench``).

Usage: ``python -m benchmarks [--quick] [--out docs/benchmarks.md] [--keep DIR]``

Order: moto and the three servers are started, then each workload runs
against each server in turn (one server busy at a time, the others idle), so
that whatever else the shared machine does weighs on all of them alike: the
throughput cells one after the other, the 10 KiB and mutable rates in
``ROUNDS`` rounds in a rotating order (their median is reported, with every
round kept in the JSON). Each measurement starts after ``os.sync()`` (see
``settle``). Then the raw-S3 ceiling, the S3 request counts
through a counting proxy, the stock-client end-to-end runs and the start-up
runs with 100,000 stored shares. Every process is stopped in ``finally``.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import e2e, report, workloads
from benchmarks.loadgen import Connection, MiB, Nurl, Secrets, new_storage_index
from benchmarks.population import populate
from benchmarks.s3 import CountingProxy, cost, create_bucket, node_settings, raw_put_get
from benchmarks.servers import REPO, CloudServer, Moto, Server, UpstreamServer, upstream_venv

FULL: dict[str, Any] = {
    "sizes": [1 * MiB, 16 * MiB, 128 * MiB],
    "concurrency": [1, 8],
    "min_bytes": 64 * MiB,
    "small": (3000, 8.0),
    "mutable": (3000, 8.0),
    "latency_reads": 400,
    "memory": [(1024 * MiB, 1), (64 * MiB, 16)],
    "e2e_size": 20_000_000,
    "startup_shares": 100_000,
    "cost_file": 1_000_000,
    "read_bound": 20.0,
}
QUICK: dict[str, Any] = {
    "sizes": [64 * 1024, MiB + 1],
    "concurrency": [1, 2],
    "min_bytes": 2 * MiB,
    "small": (30, 2.0),
    "mutable": (30, 2.0),
    "latency_reads": 20,
    "memory": [(4 * MiB, 1), (MiB, 4)],
    "e2e_size": 0,
    "startup_shares": 200,
    "cost_file": 1_000_000,
    "read_bound": 5.0,
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


#: Rounds of the 10 KiB and mutable rate workloads per server (median reported).
ROUNDS = 3


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(rounds, key=lambda r: float(r["per_second"]))
    return {**ordered[len(ordered) // 2], "rounds": rounds}


def settle() -> None:
    """Write back every dirty page before the next measurement starts.

    Otherwise the bytes a previous workload left in the page cache are
    written back during the next one, and a server that fsyncs (tahoe-cloud)
    waits for them while one that does not (upstream) does not notice.
    """
    os.sync()


def suite(servers: dict[str, Server], p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The storage-protocol workloads, each run against every (started) server in turn."""
    keys = list(servers)
    nurls = {k: Nurl.parse(servers[k].nurl) for k in keys}
    meters = {k: servers[k].meter() for k in keys}
    out: dict[str, dict[str, Any]] = {k: {"throughput": []} for k in keys}
    for size in p["sizes"]:
        for conc in p["concurrency"]:
            total = max(p["min_bytes"], size * conc)
            for k in keys:
                settle()
                r = workloads.throughput(nurls[k], meters[k], size, conc, total, p["read_bound"])
                log(
                    f"  {servers[k].name}: {size // 1024} KiB x{conc}: up {r['up_MBps']:.0f} "
                    f"MB/s, down {r['down_MBps']:.0f} MB/s"
                )
                out[k]["throughput"].append(r)
    c = max(p["concurrency"])
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {
        k: {"small": [], "mutable": []} for k in keys
    }
    for n in range(ROUNDS):
        for k in keys[n % len(keys) :] + keys[: n % len(keys)]:
            settle()
            small = workloads.small_shares(nurls[k], meters[k], c, *p["small"])
            settle()
            mutable = workloads.mutable_writes(nurls[k], meters[k], c, *p["mutable"])
            rounds[k]["small"].append(small)
            rounds[k]["mutable"].append(mutable)
            log(
                f"  round {n + 1}: {servers[k].name}: small {small['per_second']:.0f}/s, "
                f"mutable {mutable['per_second']:.0f}/s"
            )
    for k in keys:
        out[k]["small"] = _median_round(rounds[k]["small"])
        out[k]["mutable"] = _median_round(rounds[k]["mutable"])
    for k in keys:
        settle()
        out[k]["latency"] = workloads.read_latency(nurls[k], p["latency_reads"], 30.0)
        out[k]["version"] = workloads.version_latency(nurls[k], 100)
        log(f"  {servers[k].name}: 1 MiB read p99 {out[k]['latency']['p99_ms']:.1f} ms")
    for size, conc in p["memory"]:
        for k in keys:
            settle()
            r = workloads.peak_memory(nurls[k], meters[k], size, conc)
            log(
                f"  {servers[k].name}: {conc} x {size // MiB} MiB upload: "
                f"peak RSS {r['peak_rss_MiB']:.0f} MiB"
            )
            out[k].setdefault("memory", []).append(r)
    return out


def with_server(server: Server, action: Callable[[Server], Any]) -> Any:
    try:
        server.start()
        return action(server)
    finally:
        server.stop()


def _put_get(work: Path, size: int) -> Callable[[Server], Any]:
    return lambda server: e2e.put_get(work, server.nodedir, size)


def ceiling(moto_url: str, bucket: str, p: dict[str, Any]) -> list[dict[str, Any]]:
    body = workloads.PIECE * math.ceil(max(p["sizes"]) / MiB)
    rows = []
    for size in p["sizes"]:
        for conc in p["concurrency"]:
            count = max(conc, math.ceil(max(p["min_bytes"], size * conc) / size))
            rates = raw_put_get(moto_url, bucket, size, count, conc, body, p["read_bound"])
            rows.append({"size": size, "concurrency": conc, "count": count, **rates})
    return rows


def s3_requests(base: Path, moto_url: str, bucket: str, p: dict[str, Any]) -> dict[str, Any]:
    """S3 requests per storage operation, counted at a proxy in front of moto."""
    proxy = CountingProxy(moto_url)
    server = CloudServer(
        base / "cloud-s3-count",
        backend="cloud.s3",
        s3=node_settings(proxy.url, bucket, "count"),
    )
    ops: list[dict[str, Any]] = []

    def take() -> dict[str, int]:
        return dict(proxy.take())

    try:
        server.start()
        ops.append({"operation": "start (version answered)", "counts": dict(proxy.take())})
        conn = Connection(Nurl.parse(server.nurl))
        share = math.ceil(p["cost_file"] / 3) + 4096  # one 3-of-10 share of the file, with hashes
        sizes = [
            ("cost-file share", share),
            ("1 MiB", MiB),
            ("16 MiB", 16 * MiB),
            ("40 MiB (multipart)", 40 * MiB),
        ]
        for label, size in sizes:
            si = new_storage_index()
            proxy.take()
            conn.list_shares(si)
            ops.append({"operation": f"shares query (none stored) {label}", "counts": take()})
            conn.upload(si, Secrets.random(), size, workloads.PIECE, query=False)
            ops.append({"operation": f"upload {label}", "size": size, "counts": take()})
            conn.list_shares(si)
            ops.append({"operation": f"shares query {label}", "counts": take()})
            conn.download(si, size, query=False)
            ops.append({"operation": f"download {label}", "size": size, "counts": take()})
        si, secrets = new_storage_index(), Secrets.random()
        conn.read_test_write(si, secrets, None, b"d" * 8192)
        ops.append({"operation": "mutable create (8 KiB)", "counts": dict(proxy.take())})
        conn.read_test_write(si, secrets, b"d" * 8192, b"e" * 8192)
        ops.append({"operation": "mutable read-test-write (8 KiB)", "counts": dict(proxy.take())})
        conn.close()
    finally:
        server.stop()
        proxy.stop()
    from collections import Counter

    for op in ops:
        op["cost"] = cost(Counter(op["counts"]))
    by = {op["operation"]: op for op in ops}
    # A 1 MB file, 3-of-10: 10 shares uploaded (one per server, each after the
    # client's shares query); a read asks the 10 servers which shares they hold
    # and downloads 3 of them.
    store = 10 * (
        by["shares query (none stored) cost-file share"]["cost"]
        + by["upload cost-file share"]["cost"]
    )
    read = (
        10 * by["shares query cost-file share"]["cost"] + 3 * by["download cost-file share"]["cost"]
    )
    return {
        "operations": ops,
        "share_size": share,
        "store_cost_per_million": store * 1e6,
        "read_cost_per_million": read * 1e6,
    }


def startup(server: Server, shares: int) -> dict[str, Any]:
    """Start time and version latency empty, then with ``shares`` shares stored."""
    out: dict[str, Any] = {}
    # The first start of a node directory is a cold one (first imports, first
    # files): it is run and not measured, so both measured starts are warm.
    for label, count in (("cold", 0), ("empty", 0), ("populated", shares)):
        if count:
            out["populate_seconds"] = populate(server.storage_dir, count)
        start_seconds = server.start()
        try:
            out[label] = {
                "shares": count,
                "start_seconds": start_seconds,
                **workloads.version_latency(Nurl.parse(server.nurl), 500),
            }
        finally:
            server.stop()
    return out


def versions() -> dict[str, str]:
    up = upstream_venv()
    tahoe = subprocess.run(
        [str(up / "bin" / "python"), "-c", "import allmydata; print(allmydata.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    import boto3  # type: ignore[import-untyped]
    import moto
    import twisted

    import tahoe_cloud

    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "tahoe-cloud": f"{getattr(tahoe_cloud, '__version__', '?')} (git {commit})",
        "tahoe-lafs (upstream)": tahoe,
        "python": platform.python_version(),
        "twisted": twisted.__version__,
        "moto": moto.__version__,
        "boto3": boto3.__version__,
    }


def machine() -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import os

    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{int(mem) // 1024} MiB",
        "kernel": platform.release(),
        "load_at_start": Path("/proc/loadavg").read_text().split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (checks the harness only)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument(
        "--keep", type=Path, help="work directory to keep (default: a temporary one)"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: rewrite the report from the figures saved next to it (.json)",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report.write(json.loads(args.out.with_suffix(".json").read_text()), args.out)
        return 0
    p = QUICK if args.quick else FULL
    base = args.keep or Path(tempfile.mkdtemp(prefix="tahoe-cloud-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, Any] = {
        "profile": "quick" if args.quick else "full",
        "params": p,
        "command": "./dev bench" + (" --quick" if args.quick else ""),
        "versions": versions(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    moto: Moto | None = None
    try:
        moto = Moto(base / "moto.log")
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        create_bucket(moto.url, bucket)
        s3cfg = node_settings(moto.url, bucket, "bench")
        servers: dict[str, Server] = {
            "disk": CloudServer(base / "cloud-disk"),
            "upstream": UpstreamServer(base / "upstream"),
            "s3": CloudServer(base / "cloud-s3", backend="cloud.s3", s3=s3cfg),
        }
        results["servers"] = {}
        try:
            for key, server in list(servers.items()):
                try:
                    server.start()
                except RuntimeError as e:
                    if key != "s3" or "not available" not in str(e):
                        raise
                    log("  cloud.s3 is not available in this tree: its figures are left out")
                    results["servers"][key] = {"error": "the cloud.s3 backend is not available"}
                    servers.pop(key)
            log(f"workloads, each server in turn: {', '.join(s.name for s in servers.values())}")
            results["servers"].update(suite(servers, p))
        finally:
            for server in servers.values():
                server.stop()
        log("raw S3 ceiling (boto3 straight to the same moto)")
        results["ceiling"] = ceiling(moto.url, bucket, p)
        if "s3" in servers:
            log("S3 requests per operation")
            results["s3_requests"] = s3_requests(base, moto.url, bucket, p)
        if p["e2e_size"]:
            results["e2e"] = {}
            for key, server in servers.items():
                log(f"stock tahoe put/get: {server.name}")
                work = base / f"e2e-{key}"
                work.mkdir()
                results["e2e"][key] = with_server(server, _put_get(work, p["e2e_size"]))
        results["startup"] = {}
        for key in ("disk", "upstream"):
            log(f"start-up with {p['startup_shares']} shares: {servers[key].name}")
            fresh: Server = (
                CloudServer(base / f"startup-{key}")
                if key == "disk"
                else UpstreamServer(base / f"startup-{key}")
            )
            results["startup"][key] = startup(fresh, p["startup_shares"])
    finally:
        if moto is not None:
            moto.stop()
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    results["wall_seconds"] = time.monotonic() - started
    results["machine"]["load_at_end"] = Path("/proc/loadavg").read_text().split()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    report.write(results, args.out)
    log(f"done in {results['wall_seconds']:.0f} s: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
