"""Profile one server process under one workload (evidence for docs/benchmarks.md).

Usage: ``python -m benchmarks.profile WORKLOAD [SERVER] [--tool T] [--variant V] [--gil]``
with WORKLOAD one of ``mutable``, ``small``, ``upload``, ``download`` and SERVER
``disk`` (default) or ``upstream``. Starts the server, runs the workload
(bounded in count and time) and prints its figures and the server's user and
system CPU, per operation for ``mutable`` and ``small``. ``--tool`` picks
what watches the server meanwhile:

* ``py-spy`` (default): ``py-spy record``, then the functions with the most
  samples (self and, for tahoe_cloud code, inclusive); ``--gil`` samples
  only the thread holding the GIL, i.e. Python CPU time. Needs ``py-spy``
  (the bench extra);
* ``strace``: ``strace -c -f`` on every thread, then the system calls per
  operation (needs strace; it slows the server, so read the counts, not the
  times);
* ``cprofile``: the server (disk only) runs under cProfile, which sees the
  reactor thread only: the functions with the most time of their own, then
  tahoe_cloud's by time including callees (wall time: a thread waiting for
  the GIL inside a call counts against that call);
* ``none``: nothing; the CPU figures undisturbed.

``--variant inline-io``, ``no-fsync`` or ``inline-io+no-fsync`` runs tahoe-cloud through
``benchmarks.variants`` (what a design choice costs; disk only); ``--log-level
debug`` writes a log line per request, as tahoe-cloud did by default before.
The download workload uploads its shares while being watched too.
"""

from __future__ import annotations

import argparse
import collections
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import workloads
from benchmarks.loadgen import MiB, Nurl, Pool, Secrets, new_storage_index
from benchmarks.servers import VENV_BIN, CloudServer, Server, UpstreamServer
from benchmarks.variants import VARIANTS

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def summarize(raw: Path, top: int = 25) -> str:
    """Self and inclusive sample shares from py-spy's raw (collapsed stack) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r" \(/.*?(site-packages|main)/", " (", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "-- self"]
    lines += [f"{100 * n / total:5.1f}% {f[:140]}" for f, n in own.most_common(top)]
    lines.append("-- inclusive, tahoe_cloud code")
    ours = [(f, n) for f, n in inclusive.most_common() if "tahoe_cloud/" in f and "cli/" not in f]
    lines += [f"{100 * n / total:5.1f}% {f[:140]}" for f, n in ours[:top]]
    return "\n".join(lines)


def run_workload(name: str, server: Server) -> dict[str, object]:
    nurl, meter = Nurl.parse(server.nurl), server.meter()
    if name == "mutable":
        return workloads.mutable_writes(nurl, meter, 8, 2000, 6.0)
    if name == "small":
        return workloads.small_shares(nurl, meter, 8, 2000, 6.0)
    if name == "upload":
        return workloads.throughput(nurl, meter, 16 * MiB, 8, 512 * MiB, 20.0)
    files = [(new_storage_index(), Secrets.random()) for _ in range(8)]
    pool = Pool(nurl, 8)
    try:
        pool.run([workloads._uploader(si, secrets, 64 * MiB) for si, secrets in files])
        cpu, start = meter.cpu_seconds(), time.monotonic()
        pool.run([workloads._downloader(si, 64 * MiB, 0.0) for si, _ in files])
        seconds = time.monotonic() - start
        return {"down_MBps": 8 * 64 * MiB / seconds / 1e6,
                "down_cpu_per_GiB": (meter.cpu_seconds() - cpu) * 2}  # fmt: skip
    finally:
        pool.close()


def _cpu_ticks(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def _watch(tool: str, pid: int, out: Path, gil: bool) -> subprocess.Popen[bytes] | None:
    if tool == "py-spy":
        argv = [str(VENV_BIN / "py-spy"), "record", "-p", str(pid), "-f", "raw", "-o", str(out),
                "-r", "200", "--nonblocking", *(["--gil"] if gil else [])]  # fmt: skip
    elif tool == "strace":
        argv = ["strace", "-c", "-f", "-p", str(pid), "-o", str(out)]
    else:
        return None
    watcher = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return watcher


def syscalls_per_op(table: Path, ops: int, top: int = 12) -> str:
    """The busiest lines of ``strace -c`` output, as calls per operation."""
    rows = []
    for line in table.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls = int(parts[3])
            rows.append((calls, parts[-1]))
    rows.sort(reverse=True)
    total = sum(calls for calls, _ in rows)
    lines = [f"system calls per operation: {total / ops:.1f}"]
    lines += [f"{calls / ops:8.1f} {name}" for calls, name in rows[:top]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("workload", choices=["mutable", "small", "upload", "download"])
    parser.add_argument("server", nargs="?", choices=["disk", "upstream"], default="disk")
    parser.add_argument(
        "--tool", choices=["py-spy", "strace", "cprofile", "none"], default="py-spy"
    )
    parser.add_argument("--variant", choices=VARIANTS, help="tahoe-cloud disk with one change")
    parser.add_argument("--gil", action="store_true", help="py-spy: only samples holding the GIL")
    parser.add_argument(
        "--log-level", help="tahoe-cloud's [logging] level (debug: a line per request)"
    )
    args = parser.parse_args()
    if (args.variant or args.log_level or args.tool == "cprofile") and args.server != "disk":
        parser.error("--variant, --log-level and --tool cprofile apply to tahoe-cloud only")
    base = Path(tempfile.mkdtemp(prefix="tahoe-cloud-profile-"))
    out = base / "watch.txt"
    if args.tool == "cprofile":
        server: Server = CloudServer(
            base / "node", variant=args.variant or "as-is", env={"BENCH_CPROFILE": str(out)}
        )
    elif args.server == "disk":
        server = CloudServer(base / "node", variant=args.variant)
    else:
        server = UpstreamServer(base / "node")
    if args.log_level:
        with (server.nodedir / "tahoe.cfg").open("a") as cfg:
            cfg.write(f"\n[logging]\nlevel = {args.log_level}\n")
    server.start()
    watcher: subprocess.Popen[bytes] | None = None
    ops = 0
    try:
        assert server.process is not None
        pid = server.process.pid
        watcher = _watch(args.tool, pid, out, args.gil)
        user0, system0 = _cpu_ticks(pid)
        result = run_workload(args.workload, server)
        user, system = (a - b for a, b in zip(_cpu_ticks(pid), (user0, system0), strict=True))
        print(f"{server.name}: {result}")
        print(f"server CPU ticks (1/{_CLK_TCK} s): user {user}, system {system}")
        ops = int(str(result.get("count", 0)))
        if ops:
            print(
                f"server CPU per operation: user {1000 * user / _CLK_TCK / ops:.2f} ms, "
                f"system {1000 * system / _CLK_TCK / ops:.2f} ms"
            )
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.send_signal(2)
            watcher.wait(60)
        server.stop()
    if args.tool == "py-spy" and out.exists():
        print(summarize(out))
    if args.tool == "cprofile" and out.exists():
        stats = pstats.Stats(str(out))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats("tahoe_cloud/", 25)
    if args.tool == "strace" and out.exists():
        print(syscalls_per_op(out, ops) if ops else out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
