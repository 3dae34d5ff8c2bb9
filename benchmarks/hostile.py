"""Hostile requests against a real node, from outside over HTTPS: does memory stay bounded?

``python -m benchmarks.hostile [CASE ...]`` starts a fresh ``tahoe-cloud run``
node per case (disk, or cloud.s3 on a local moto server where the case is
about it), runs the case with the storage protocol as a client would speak
it, and prints the server's resident memory when idle before the case, its
peak during it and what is left a few seconds after. Cases:

- ``cbor-bomb``: a read-test-write body of one definite-length CBOR array of
  ``[[]]`` items (16 MiB);
- ``write-vectors``: a valid read-test-write with 3,000,000 one-byte write vectors;
- ``read-vectors``: 30 read vectors of offset 0 and length 2**64-1 over two
  8 MiB mutable shares;
- ``slow-readers``: 200 connections each asking for a 4 MiB range and not
  reading the answer for 10 s;
- ``s3-uploads``: 500 concurrent 1 MiB immutable uploads to cloud.s3;
- ``lease-flood``: 100 lease requests with fresh secrets on a 64 MiB
  immutable share (also prints the bytes the server wrote to its files).

``--code DIR`` runs the node from another checkout's ``tahoe_cloud`` (to
measure the same cases before a fix); ``--env NAME=VALUE`` sets a variable in
the node's environment (allocator settings, say). Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cbor2

from benchmarks.loadgen import Connection, Nurl, ProtocolError, Secrets, new_storage_index
from benchmarks.s3 import create_bucket, node_settings
from benchmarks.servers import CloudServer, Moto, ProcessMeter

MiB = 1024 * 1024
SETTLE = 5.0  # seconds between the end of a case and the "after" figure


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _rtw_headers(secrets: Secrets) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/cbor"),
        ("X-Tahoe-Authorization", "write-enabler " + _b64(secrets.write_enabler)),
        ("X-Tahoe-Authorization", "lease-renew-secret " + _b64(secrets.renew)),
        ("X-Tahoe-Authorization", "lease-cancel-secret " + _b64(secrets.cancel)),
    ]


def _post_rtw(conn: Connection, si: str, secrets: Secrets, body: bytes) -> tuple[int, int]:
    """(status, answer length) of one read-test-write with a raw body."""
    status, answer = conn.request(
        "POST",
        f"/mutable/{si}/read-test-write",
        body,
        _rtw_headers(secrets),
        expect=range(100, 600),
    )
    return status, len(answer)


def _cbor_head(major: int, value: int) -> bytes:
    return bytes([major << 5 | 27]) + struct.pack(">Q", value)


# --- the cases: each gets a connected client and returns what it saw ---------------


def cbor_bomb(conn: Connection, _node: CloudServer) -> str:
    count = 8 * MiB  # 2 bytes each: a 16 MiB body
    body = _cbor_head(4, count) + b"\x81\x80" * count
    status, _ = _post_rtw(conn, new_storage_index(), Secrets.random(), body)
    return f"HTTP {status} to a {len(body) / MiB:.0f} MiB body"


def write_vectors(conn: Connection, _node: CloudServer) -> str:
    count = 3_000_000
    parts = [
        b"\xa2",
        cbor2.dumps("test-write-vectors"),
        b"\xa1\x00\xa3",
        cbor2.dumps("test"),
        b"\x80",
        cbor2.dumps("write"),
        _cbor_head(4, count),
    ]
    offset_key, data_item = cbor2.dumps("offset"), cbor2.dumps("data") + b"\x41x"
    parts += [b"\xa2" + offset_key + cbor2.dumps(i) + data_item for i in range(count)]
    parts += [cbor2.dumps("new-length"), b"\xf6", cbor2.dumps("read-vector"), b"\x80"]
    body = b"".join(parts)
    status, _ = _post_rtw(conn, new_storage_index(), Secrets.random(), body)
    return f"HTTP {status} to {count:,} write vectors ({len(body) / MiB:.0f} MiB body)"


def read_vectors(conn: Connection, _node: CloudServer) -> str:
    si, secrets = new_storage_index(), Secrets.random()
    share = os.urandom(8 * MiB)
    for shnum in (0, 1):
        vectors = {shnum: {"test": [], "write": [{"offset": 0, "data": share}], "new-length": None}}
        body = cbor2.dumps({"test-write-vectors": vectors, "read-vector": []})
        status, _ = _post_rtw(conn, si, secrets, body)
        if status != 200:
            raise ProtocolError(f"writing mutable share {shnum}: HTTP {status}")
    reads = [{"offset": 0, "size": 2**64 - 1}] * 30
    body = cbor2.dumps({"test-write-vectors": {}, "read-vector": reads})
    status, length = _post_rtw(conn, si, secrets, body)
    return f"HTTP {status}, {length / MiB:.1f} MiB answer to a {len(body)}-byte request"


def _slow_reader(nurl: Nurl, path: str, size: int) -> ssl.SSLSocket:
    """A TLS connection that sends one ranged GET and then reads nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((nurl.host, nurl.port))
    sock = context.wrap_socket(raw)
    auth = "Tahoe-LAFS " + _b64(nurl.swissnum.encode())
    sock.sendall(
        (
            f"GET /storage/v1{path} HTTP/1.1\r\nHost: {nurl.host}\r\n"
            f"Authorization: {auth}\r\nRange: bytes=0-{size - 1}\r\n\r\n"
        ).encode()
    )
    return sock


def slow_readers(conn: Connection, node: CloudServer) -> str:
    size, count, hold = 4 * MiB, 200, 10.0
    si, secrets = new_storage_index(), Secrets.random()
    conn.upload(si, secrets, size, os.urandom(MiB))
    nurl = Nurl.parse(node.nurl)
    with ThreadPoolExecutor(20) as pool:
        sockets = list(
            pool.map(lambda _: _slow_reader(nurl, f"/immutable/{si}/0", size), range(count))
        )
    try:
        time.sleep(hold)
        # Meanwhile a well-behaved client still reads.
        started = time.monotonic()
        conn.download(si, size, query=False)
        waited = time.monotonic() - started
    finally:
        for sock in sockets:
            sock.close()
    return (
        f"{count} readers of {size // MiB} MiB held {hold:.0f} s; a normal read took {waited:.2f} s"
    )


def s3_uploads(conn: Connection, node: CloudServer) -> str:
    count, size = 500, MiB
    nurl = Nurl.parse(node.nurl)
    piece = os.urandom(size)
    failures: list[str] = []

    def one(_: int) -> None:
        client = Connection(nurl)
        try:
            client.upload(new_storage_index(), Secrets.random(), size, piece, query=False)
        except (ProtocolError, OSError) as e:
            failures.append(str(e)[:80])
        finally:
            client.close()

    started = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(one, range(count)))
    took = time.monotonic() - started
    note = f"; {len(failures)} failed, e.g. {failures[0]}" if failures else ""
    return f"{count - len(failures)} of {count} uploads of 1 MiB in {took:.1f} s{note}"


def _io(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {k: int(v) for k, v in (line.split(": ") for line in lines)}


def lease_flood(conn: Connection, node: CloudServer) -> str:
    size, count = 64 * MiB, 100
    si, secrets = new_storage_index(), Secrets.random()
    conn.upload(si, secrets, size, os.urandom(MiB))
    assert node.process is not None
    before = _io(node.process.pid)
    started = time.monotonic()
    codes: dict[int, int] = {}
    for _ in range(count):
        fresh = Secrets.random()
        headers = [
            ("X-Tahoe-Authorization", "lease-renew-secret " + _b64(fresh.renew)),
            ("X-Tahoe-Authorization", "lease-cancel-secret " + _b64(fresh.cancel)),
        ]
        status, _ = conn.request("PUT", f"/lease/{si}", None, headers, expect=range(100, 600))
        codes[status] = codes.get(status, 0) + 1
    took = time.monotonic() - started
    after = _io(node.process.pid)
    written = (after["write_bytes"] - before["write_bytes"]) / MiB
    return (
        f"{count} leases on a {size // MiB} MiB share in {took:.2f} s, statuses {codes},"
        f" {written:.1f} MiB written to disk"
    )


Case = Callable[[Connection, CloudServer], str]
CASES: dict[str, tuple[str, Case]] = {
    "cbor-bomb": ("disk", cbor_bomb),
    "write-vectors": ("disk", write_vectors),
    "read-vectors": ("disk", read_vectors),
    "slow-readers": ("disk", slow_readers),
    "s3-uploads": ("cloud.s3", s3_uploads),
    "lease-flood": ("disk", lease_flood),
}


def _start(
    workdir: Path, name: str, backend: str, moto: Moto | None, env: dict[str, str]
) -> CloudServer:
    s3 = None
    if backend == "cloud.s3":
        assert moto is not None
        bucket = f"hostile-{name}-{os.getpid()}"
        create_bucket(moto.url, bucket)
        s3 = node_settings(moto.url, bucket, "n/")
    node = CloudServer(workdir / name, backend=backend, s3=s3, env=env)
    node.start()
    return node


def run_case(name: str, workdir: Path, moto: Moto | None, env: dict[str, str]) -> dict[str, object]:
    backend, case = CASES[name]
    node = _start(workdir, name, backend, moto, env)
    try:
        conn = Connection(Nurl.parse(node.nurl))
        conn.version()
        time.sleep(1.0)
        meter: ProcessMeter = node.meter()
        idle = meter.rss()
        meter.start_peak()
        started = time.monotonic()
        error = None
        try:
            note = case(conn, node)
        except (ProtocolError, OSError) as e:
            note, error = f"client error: {e}"[:200], e
        took = time.monotonic() - started
        peak = meter.stop_peak()
        conn.close()
        time.sleep(SETTLE)
        after = meter.rss()
        alive = node.process is not None and node.process.running()
        return {
            "case": name,
            "backend": backend,
            "idle": idle,
            "peak": peak,
            "after": after,
            "seconds": took,
            "note": note + ("" if alive else " (SERVER EXITED)"),
            "failed": error is not None or not alive,
        }
    finally:
        node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hostile", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "cases", nargs="*", metavar="CASE", help=f"default: all of {', '.join(CASES)}"
    )
    parser.add_argument("--code", type=Path, help="run the node from this checkout's tahoe_cloud")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the node's environment (e.g. MALLOC_ARENA_MAX=2); repeatable",
    )
    args = parser.parse_args(argv)
    names = args.cases or list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    env = dict(item.split("=", 1) for item in args.env)
    if args.code is not None:
        env["PYTHONPATH"] = str(args.code.resolve())
    results = []
    with tempfile.TemporaryDirectory(prefix="tahoe-cloud-hostile-") as tmp:
        workdir = Path(tmp)
        moto = Moto(workdir / "moto.log") if any(CASES[n][0] == "cloud.s3" for n in names) else None
        try:
            for name in names:
                print(f"== {name} ...", file=sys.stderr, flush=True)
                results.append(run_case(name, workdir, moto, env))
        finally:
            if moto is not None:
                moto.stop()
    print(
        f"{'case':14} {'backend':8} {'idle MiB':>8} {'peak MiB':>8} {'+peak':>7}"
        f" {'after MiB':>9} {'secs':>6}  result"
    )
    for r in results:
        idle, peak, after = (int(r[k]) / MiB for k in ("idle", "peak", "after"))  # type: ignore[call-overload]
        print(
            f"{r['case']:14} {r['backend']:8} {idle:8.0f} {peak:8.0f} {peak - idle:7.0f}"
            f" {after:9.0f} {r['seconds']:6.1f}  {r['note']}"
        )
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
