"""Hostile requests against a live node: peak RSS, time and reactor stalls per case.

    python -m benchmarks.hostile_bounds [--backend disk|cloud.s3] [CASE ...]
    python -m benchmarks.hostile_bounds --nurl NURL --pid PID [CASE ...]

Without ``--nurl`` each case gets a fresh node (created under a temporary
directory, so RSS before the case is the idle figure; ``cloud.s3`` runs on a
moto server); with it, the cases go
to a running node whose process id is ``--pid`` (its RSS is what is
measured). Cases (all by default):

- ``cbor-bomb``: a read-test-write body of one array of 8M ``[[]]`` items (16 MiB);
- ``cbor-nested``: 16 MiB of arrays nested two deep, none declaring many items;
- ``write-vectors``: a valid body of 3,000,000 one-byte write vectors (46 MiB);
- ``read-vectors``: 30 read vectors of ``0..2^64-1`` over two 8 MiB mutable shares;
- ``uploads``: allocations of 256 never-written shares until the node refuses
  one (at most 200 requests), then one ``/version``;
- ``uploads-server``: the same from 127.0.0.2, 127.0.0.3, ... in turn (each
  address a client of its own) until the server-wide cap refuses one.

Each line gives the status, seconds, the node's peak RSS above its RSS
before the case, and the slowest ``/version`` answer seen meanwhile from
another connection (how long the node stopped serving others).
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import cbor2
from attrs import frozen

from benchmarks.loadgen import Connection, Nurl, Secrets, _b64, new_storage_index
from benchmarks.s3 import create_bucket, node_settings
from benchmarks.servers import CloudServer, Moto, ProcessMeter

MiB = 1024 * 1024
ANY_STATUS = range(100, 600)


def rtw_headers(secrets: Secrets) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/cbor"),
        ("X-Tahoe-Authorization", "write-enabler " + _b64(secrets.write_enabler)),
        ("X-Tahoe-Authorization", "lease-renew-secret " + _b64(secrets.renew)),
        ("X-Tahoe-Authorization", "lease-cancel-secret " + _b64(secrets.cancel)),
    ]


def cbor_bomb(pairs: int = 8 * MiB) -> bytes:
    """One definite-length array of ``pairs`` ``[[]]`` items."""
    return b"\x9a" + struct.pack(">I", pairs) + b"\x81\x80" * pairs


def cbor_nested(outer: int = 16 * 1024, inner: int = 1024) -> bytes:
    """``outer`` arrays of ``inner`` empty arrays: no header declares more than ``outer``."""
    one = b"\x99" + struct.pack(">H", inner) + b"\x80" * inner
    return b"\x99" + struct.pack(">H", outer) + one * outer


def write_vectors(count: int = 3_000_000) -> bytes:
    """A valid read-test-write of ``count`` one-byte writes to share 0 (built as bytes)."""
    share = cbor2.dumps("test") + b"\x80" + cbor2.dumps("write")
    share += b"\x9a" + struct.pack(">I", count) + cbor2.dumps({"offset": 0, "data": b"x"}) * count
    share += cbor2.dumps("new-length") + b"\xf6"
    vectors = cbor2.dumps("test-write-vectors") + b"\xa1\x00\xa3" + share
    return b"\xa2" + vectors + cbor2.dumps("read-vector") + b"\x80"


def rtw(conn: Connection, si: str, secrets: Secrets, body: bytes) -> int:
    status, _ = conn.request(
        "POST", f"/mutable/{si}/read-test-write", body, rtw_headers(secrets), ANY_STATUS
    )
    return status


def case_body(make: Callable[[], bytes]) -> Callable[[Connection], str]:
    body = make()

    def run(conn: Connection) -> str:
        return str(rtw(conn, new_storage_index(), Secrets.random(), body))

    return run


def read_vectors_setup(conn: Connection) -> Callable[[Connection], str]:
    si, secrets = new_storage_index(), Secrets.random()
    for shnum in (0, 1):
        vectors = {
            shnum: {
                "test": [],
                "write": [{"offset": 0, "data": b"s" * 8 * MiB}],
                "new-length": None,
            }
        }
        body = cbor2.dumps({"test-write-vectors": vectors, "read-vector": []})
        assert rtw(conn, si, secrets, body) == 200
    reads = [{"offset": 0, "size": 2**64 - 1}] * 30
    body = cbor2.dumps({"test-write-vectors": {}, "read-vector": reads})

    def run(conn: Connection) -> str:
        return f"{rtw(conn, si, secrets, body)} ({len(body)}-byte request)"

    return run


def allocate_until_refused(conn: Connection, limit: int = 200) -> tuple[int, int]:
    """Allocate 256 never-written shares per request; the refusal's status and the count."""
    body = cbor2.dumps({"share-numbers": set(range(256)), "allocated-size": 1_000_000})
    for accepted in range(limit):
        secrets = Secrets.random()
        headers = [
            ("Content-Type", "application/cbor"),
            ("X-Tahoe-Authorization", "lease-renew-secret " + _b64(secrets.renew)),
            ("X-Tahoe-Authorization", "lease-cancel-secret " + _b64(secrets.cancel)),
            ("X-Tahoe-Authorization", "upload-secret " + _b64(secrets.upload)),
        ]
        status, _ = conn.request(
            "POST", f"/immutable/{new_storage_index()}", body, headers, ANY_STATUS
        )
        if status != 200:
            return status, accepted
    return 200, limit


def version_ms(conn: Connection) -> str:
    started = time.perf_counter()
    conn.version()
    return f"/version then {(time.perf_counter() - started) * 1000:.0f} ms"


def uploads(conn: Connection) -> str:
    status, accepted = allocate_until_refused(conn)
    return f"{status} after {accepted} allocations of 256 shares; {version_ms(conn)}"


def uploads_server(conn: Connection) -> str:
    """From 127.0.0.2, .3, ... (each its own client) until the server-wide cap."""
    counts = []
    for host in range(2, 12):
        other = Connection(conn.nurl, source=f"127.0.0.{host}")
        try:
            status, accepted = allocate_until_refused(other)
        finally:
            other.close()
        counts.append(str(accepted))
        if status != 429:
            break
    return f"{status} after {'+'.join(counts)} allocations of 256 shares; {version_ms(conn)}"


class VersionWatch:
    """Polls ``/version`` on its own connection; remembers the slowest answer."""

    def __init__(self, nurl: Nurl) -> None:
        self._conn = Connection(nurl)
        self._stop = threading.Event()
        self.slowest = 0.0
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self._conn.version()
            except Exception:  # noqa: BLE001 -- a failed poll still counts its time
                self._conn.close()
            self.slowest = max(self.slowest, time.perf_counter() - started)
            time.sleep(0.05)

    def __enter__(self) -> VersionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


CASES: dict[str, Callable[[Connection], Callable[[Connection], str]]] = {
    "cbor-bomb": lambda conn: case_body(cbor_bomb),
    "cbor-nested": lambda conn: case_body(cbor_nested),
    "write-vectors": lambda conn: case_body(write_vectors),
    "read-vectors": read_vectors_setup,
    "uploads": lambda conn: uploads,
    "uploads-server": lambda conn: uploads_server,
}


@frozen
class Outcome:
    """What one case did to the node."""

    answer: str  # starts with the HTTP status
    seconds: float
    rss_before: int
    peak_above: int
    slowest_version: float

    def __str__(self) -> str:
        return (
            f"{self.answer}: {self.seconds:.2f} s, RSS {self.rss_before / MiB:.0f} MiB before,"
            f" peak +{self.peak_above / MiB:.0f} MiB;"
            f" slowest /version meanwhile {self.slowest_version * 1000:.0f} ms"
        )


def measure(nurl: Nurl, meter: ProcessMeter, name: str) -> Outcome:
    """Run case ``name`` against the node at ``nurl`` whose process ``meter`` watches."""
    conn = Connection(nurl)
    try:
        action = CASES[name](conn)
        time.sleep(0.5)
        before = meter.rss()
        meter.start_peak()
        with VersionWatch(nurl) as watch:
            started = time.perf_counter()
            answer = action(conn)
            seconds = time.perf_counter() - started
        peak = meter.stop_peak()
    finally:
        conn.close()
    return Outcome(answer, seconds, before, max(0, peak - before), watch.slowest)


def run_cases(nurl: Nurl, pid: int, names: list[str]) -> None:
    meter = ProcessMeter(pid)
    for name in names:
        print(f"{name:14} {measure(nurl, meter, name)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=", ".join(CASES))
    parser.add_argument("--backend", default="disk")
    parser.add_argument("--nurl")
    parser.add_argument("--pid", type=int)
    args = parser.parse_args(argv)
    names = args.cases or list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error("unknown case(s): " + ", ".join(unknown))
    if args.nurl:
        if args.pid is None:
            parser.error("--nurl needs --pid")
        run_cases(Nurl.parse(args.nurl), args.pid, names)
        return 0
    with tempfile.TemporaryDirectory(prefix="hostile-") as work:
        moto = Moto(Path(work) / "moto.log") if args.backend == "cloud.s3" else None
        try:
            for number, name in enumerate(names):
                s3 = None
                if moto is not None:
                    bucket = f"hostile-{uuid.uuid4().hex[:12]}"
                    create_bucket(moto.url, bucket)
                    s3 = node_settings(moto.url, bucket, "node")
                server = CloudServer(Path(work) / f"node{number}", backend=args.backend, s3=s3)
                server.start()
                try:
                    assert server.process is not None
                    run_cases(Nurl.parse(server.nurl), server.process.pid, [name])
                finally:
                    server.stop()
        finally:
            if moto is not None:
                moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
