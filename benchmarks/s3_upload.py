"""A one-minute cloud.s3 upload benchmark: throughput against raw S3, and peak server RSS.

Run: ``.venv/bin/python -m benchmarks.s3_upload [--memory full|small|none] [--profile OUT]``

Not a test. Reuses the benchmark harness in
``benchmarks/`` (its load generator, server runner and raw-S3 ceiling) so the
figures are comparable with docs/benchmarks.md: a ``tahoe-cloud run`` node on
the cloud.s3 backend against a moto_server subprocess, the stock client's
upload pattern (shares query, allocate, 1 MiB PATCHes). Prints upload MB/s and
server CPU s/GiB next to boto3 PUTting the same sizes to the same moto, then
the peak RSS of the server during the memory workloads (``full``: one 1 GiB
share, then 16 x 64 MiB at once, as in the issue's targets; ``small``: one
256 MiB share and 16 x 16 MiB). ``--profile OUT`` records the server with
py-spy (raw collapsed stacks) during the throughput runs.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks import workloads
from benchmarks.loadgen import MiB, Nurl, Pool, Secrets, new_storage_index
from benchmarks.s3 import create_bucket, raw_put_get
from benchmarks.servers import VENV_BIN, CloudServer, Moto

CASES = [(MiB, 1), (MiB, 8), (16 * MiB, 1), (16 * MiB, 8), (64 * MiB, 4)]
MEMORY = {
    "full": [(1024 * MiB, 1), (64 * MiB, 16)],
    "small": [(256 * MiB, 1), (16 * MiB, 16)],
    "none": [],
}
MIN_BYTES = 64 * MiB


def upload(nurl: Nurl, meter: object, size: int, conc: int) -> tuple[float, float]:
    count = max(conc, math.ceil(MIN_BYTES / size))
    files = [(new_storage_index(), Secrets.random()) for _ in range(count)]
    pool = Pool(nurl, conc)
    try:
        with workloads.Measured(meter) as m:  # type: ignore[arg-type]
            pool.run([workloads._uploader(si, s, size) for si, s in files])
    finally:
        pool.close()
    moved = count * size
    return moved / m.seconds / 1e6, m.cpu * workloads.GiB / moved


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.s3_upload")
    parser.add_argument("--memory", choices=sorted(MEMORY), default="small")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--no-ceiling", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tahoe-cloud-s3bench-"))
    moto = Moto(base / "moto.log")
    server = None
    spy = None
    try:
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        create_bucket(moto.url, bucket)
        s3 = {"bucket": bucket, "url": moto.url, "access_key_id": "k", "secret": "s"}
        server = CloudServer(base / "node", backend="cloud.s3", s3={**s3, "prefix": "b"})
        server.start()
        nurl, meter = Nurl.parse(server.nurl), server.meter()
        if args.profile is not None:
            assert server.process is not None
            spy = subprocess.Popen(
                [str(VENV_BIN / "py-spy"), "record", "-p", str(server.process.pid), "-f", "raw",
                 "-o", str(args.profile), "-r", "100", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        print("| size | conc. | cloud.s3 up MB/s | server CPU s/GiB | raw S3 PUT MB/s | ratio |")
        print("|---|---|---|---|---|---|")
        for size, conc in CASES:
            rate, cpu = upload(nurl, meter, size, conc)
            raw = float("nan")
            if not args.no_ceiling:
                count = max(conc, math.ceil(MIN_BYTES / size))
                body = workloads.PIECE * math.ceil(size / MiB)
                raw = raw_put_get(moto.url, bucket, size, count, conc, body, 0.0)["up_MBps"]
            print(
                f"| {size // MiB} MiB | {conc} | {rate:.0f} | {cpu:.2f} | {raw:.0f} |"
                f" {rate / raw:.2f}x |",
                flush=True,
            )
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
            spy = None
        for size, conc in MEMORY[args.memory]:
            r = workloads.peak_memory(nurl, meter, size, conc)
            print(
                f"peak RSS {conc} x {size // MiB} MiB: {r['peak_rss_MiB']:.0f} MiB"
                f" (before {r['rss_before_MiB']:.0f}), {r['up_MBps']:.0f} MB/s",
                flush=True,
            )
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        if server is not None:
            server.stop()
        moto.stop()


if __name__ == "__main__":
    main()
