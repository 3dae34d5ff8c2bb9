"""Profile one server process under one workload with py-spy (evidence for docs/benchmarks.md).

Usage: ``python -m benchmarks.profile WORKLOAD [SERVER] [--gil]`` with WORKLOAD
one of ``mutable``, ``small``, ``upload``, ``download`` and SERVER ``disk``
(default) or ``upstream``. Starts the server, records it with ``py-spy
record`` while the workload runs (bounded in count and time), stops both,
and prints the server's user/system CPU and the functions with the most
samples (self and, for tahoe_cloud code, inclusive). ``--gil`` samples only
the thread holding the GIL, i.e. Python CPU time. Needs ``py-spy`` in .venv.
The download workload uploads its shares while recording too.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import workloads
from benchmarks.loadgen import MiB, Nurl, Pool, Secrets, new_storage_index
from benchmarks.servers import VENV_BIN, CloudServer, Server, UpstreamServer


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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("workload", choices=["mutable", "small", "upload", "download"])
    parser.add_argument("server", nargs="?", choices=["disk", "upstream"], default="disk")
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tahoe-cloud-profile-"))
    server: Server = (
        CloudServer(base / "node") if args.server == "disk" else UpstreamServer(base / "node")
    )
    raw = base / "pyspy.txt"
    server.start()
    spy: subprocess.Popen[bytes] | None = None
    try:
        assert server.process is not None
        spy = subprocess.Popen(
            [str(VENV_BIN / "py-spy"), "record", "-p", str(server.process.pid), "-f", "raw",
             "-o", str(raw), "-r", "200", "--nonblocking", *(["--gil"] if args.gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.0)
        meter = server.meter()
        fields = Path(f"/proc/{meter.pid}/stat").read_text().rsplit(")", 1)[1].split()
        user0, system0 = int(fields[11]), int(fields[12])
        print(run_workload(args.workload, server))
        fields = Path(f"/proc/{meter.pid}/stat").read_text().rsplit(")", 1)[1].split()
        print(
            f"server CPU ticks: user {int(fields[11]) - user0}, system {int(fields[12]) - system0}"
        )
    finally:
        if spy is not None and spy.poll() is None:
            spy.send_signal(2)
            spy.wait(60)
        server.stop()
    if raw.exists():
        print(summarize(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
