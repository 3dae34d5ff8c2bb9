"""The workloads, each measured against one running server with the one load generator.

Every function returns plain numbers (a dict) for the report: wall time,
throughput and the SERVER process's CPU seconds per GiB (or per operation)
from /proc. Loops are bounded in both count and time.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.loadgen import Connection, MiB, Nurl, Pool, Secrets, new_storage_index
from benchmarks.servers import ProcessMeter

GiB = 1024 * MiB
PIECE = os.urandom(MiB)  # the bytes of every 1 MiB piece (the storage protocol never dedups)


class Measured:
    """Wall time and server CPU across one phase."""

    def __init__(self, meter: ProcessMeter):
        self.meter = meter

    def __enter__(self) -> Measured:
        self.cpu0 = self.meter.cpu_seconds()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.t0
        self.cpu = self.meter.cpu_seconds() - self.cpu0


def _uploader(si: str, secrets: Secrets, size: int) -> Callable[[Connection], object]:
    return lambda conn: conn.upload(si, secrets, size, PIECE)


def _downloader(si: str, size: int, deadline: float) -> Callable[[Connection], object]:
    return lambda conn: conn.download(si, size, None, deadline)


def throughput(
    nurl: Nurl,
    meter: ProcessMeter,
    size: int,
    concurrency: int,
    total_bytes: int,
    max_read_seconds: float = 0.0,
) -> dict[str, Any]:
    """Upload then download ``count`` shares of ``size`` bytes, ``concurrency`` at a time.

    With ``max_read_seconds``, downloads stop after that long and the rate is
    over the bytes read by then (bounds slow servers' runs).
    """
    count = max(concurrency, math.ceil(total_bytes / size))
    files = [(new_storage_index(), Secrets.random()) for _ in range(count)]
    pool = Pool(nurl, concurrency)
    try:
        with Measured(meter) as up:
            pool.run([_uploader(si, secrets, size) for si, secrets in files])
        with Measured(meter) as down:
            deadline = time.monotonic() + max_read_seconds if max_read_seconds else 0.0
            read = pool.run([_downloader(si, size, deadline) for si, _ in files])
    finally:
        pool.close()
    moved = count * size
    got = sum(n for n in read if isinstance(n, int))
    return {
        "size": size,
        "concurrency": concurrency,
        "count": count,
        "bytes": moved,
        "down_bytes": got,
        "up_MBps": moved / up.seconds / 1e6,
        "down_MBps": got / down.seconds / 1e6,
        "up_cpu_per_GiB": up.cpu * GiB / moved,
        "down_cpu_per_GiB": down.cpu * GiB / got,
        "up_seconds": up.seconds,
        "down_seconds": down.seconds,
    }


def small_shares(
    nurl: Nurl, meter: ProcessMeter, concurrency: int, max_count: int, max_seconds: float
) -> dict[str, Any]:
    """10 KiB immutable shares stored per second (shares query, allocate, one PATCH)."""
    size = 10 * 1024
    pool = Pool(nurl, concurrency)
    try:
        with Measured(meter) as m:
            n = pool.run_for(
                lambda c, i: c.upload(new_storage_index(), Secrets.random(), size, PIECE),
                max_count,
                max_seconds,
            )
    finally:
        pool.close()
    return {"count": n, "per_second": n / m.seconds, "cpu_ms_per_op": 1000 * m.cpu / n}


def mutable_writes(
    nurl: Nurl,
    meter: ProcessMeter,
    concurrency: int,
    max_count: int,
    max_seconds: float,
    share_size: int = 8 * 1024,
) -> dict[str, Any]:
    """Read-test-write of directory-sized mutable shares per second (one slot per worker)."""
    pool = Pool(nurl, concurrency)
    slots = threading.local()

    def op(conn: Connection, i: int) -> None:
        state = getattr(slots, "state", None)
        if state is None:
            si, secrets, first = new_storage_index(), Secrets.random(), os.urandom(share_size)
            if not conn.read_test_write(si, secrets, None, first):
                raise RuntimeError("creating a mutable share failed")
            state = slots.state = [si, secrets, first]
        new = i.to_bytes(8, "big") + state[2][8:]
        if not conn.read_test_write(state[0], state[1], state[2], new):
            raise RuntimeError("read-test-write lost a race it cannot lose")
        state[2] = new

    try:
        pool.run_for(op, concurrency, 60)  # create the slots outside the measurement
        with Measured(meter) as m:
            n = pool.run_for(op, max_count, max_seconds)
    finally:
        pool.close()
    return {"count": n, "per_second": n / m.seconds, "cpu_ms_per_op": 1000 * m.cpu / n}


def read_latency(nurl: Nurl, reads: int, max_seconds: float) -> dict[str, Any]:
    """p50 and p99 of a 1 MiB ranged read, one at a time, from a 16 MiB share."""
    conn = Connection(nurl)
    size = 16 * MiB
    si, secrets = new_storage_index(), Secrets.random()
    latencies: list[float] = []
    try:
        conn.upload(si, secrets, size, PIECE)
        deadline = time.monotonic() + max_seconds
        while len(latencies) < reads and time.monotonic() < deadline:
            conn.download(si, size, latencies)
    finally:
        conn.close()
    latencies.sort()
    return {
        "reads": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "samples_ms": [1000 * x for x in latencies],
    }


def peak_memory(nurl: Nurl, meter: ProcessMeter, size: int, concurrency: int) -> dict[str, Any]:
    """Peak server RSS while ``concurrency`` shares of ``size`` bytes are uploaded at once."""
    files = [(new_storage_index(), Secrets.random()) for _ in range(concurrency)]
    pool = Pool(nurl, concurrency)
    base = meter.rss()
    meter.start_peak()
    try:
        with Measured(meter) as m:
            pool.run([_uploader(si, secrets, size) for si, secrets in files])
    finally:
        peak = meter.stop_peak()
        pool.close()
    return {
        "size": size,
        "concurrency": concurrency,
        "rss_before_MiB": base / MiB,
        "peak_rss_MiB": peak / MiB,
        "up_MBps": size * concurrency / m.seconds / 1e6,
        "cpu_per_GiB": m.cpu * GiB / (size * concurrency),
    }


def version_latency(nurl: Nurl, count: int) -> dict[str, Any]:
    conn = Connection(nurl)
    times = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.version()
            times.append(time.perf_counter() - start)
    finally:
        conn.close()
    times.sort()
    return {
        "p50_ms": 1000 * statistics.median(times),
        "p99_ms": 1000 * times[int(len(times) * 0.99)],
    }


def timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start
