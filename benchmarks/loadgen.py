"""A storage-protocol load generator: the stock client's request pattern over pinned HTTPS.

The SAME code drives every server measured (tahoe-cloud on disk or cloud.s3,
an upstream 1.20 node), so differences come from the servers. It speaks the
HTTP storage protocol directly, the way a stock 1.20 client does on the wire:

* upload: ``GET .../shares``, ``POST`` allocate, ``PATCH`` pieces of 1 MiB;
* download: ``GET .../shares``, ranged ``GET`` of 1 MiB, one probe past the end;
* mutable: ``read-test-write`` of a directory-sized share (test the previous
  contents, write new ones, read back a header).

TLS is pinned like the real client: the certificate is not checked against a
CA or host name, but the SHA-256 of its SubjectPublicKeyInfo must equal the
hash in the NURL. Connections are persistent, one per worker thread.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit

import cbor2
from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization

MiB = 1024 * 1024
PIECE = MiB  # the stock client's write and read size
_TIMEOUT = 120.0


class ProtocolError(Exception):
    """The server answered something the stock client would not accept."""


@frozen
class Nurl:
    host: str
    port: int
    spki_hash: str
    swissnum: str

    @classmethod
    def parse(cls, text: str) -> Nurl:
        parts = urlsplit(text)
        if parts.scheme != "pb" or parts.fragment != "v=1" or parts.hostname is None:
            raise ValueError("not a version-1 NURL")
        spki = unquote(parts.username or "")
        if not spki or parts.port is None:
            raise ValueError("NURL without SPKI hash or port")
        return cls(parts.hostname, parts.port, spki, parts.path.lstrip("/"))


def spki_hash(der_certificate: bytes) -> str:
    cert = x509.load_der_x509_certificate(der_certificate)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).rstrip(b"=").decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@frozen
class Secrets:
    """The per-file secrets a client sends (random per storage index here)."""

    renew: bytes
    cancel: bytes
    upload: bytes
    write_enabler: bytes

    @classmethod
    def random(cls) -> Secrets:
        return cls(os.urandom(32), os.urandom(32), os.urandom(20), os.urandom(32))


def new_storage_index() -> str:
    return base64.b32encode(os.urandom(16)).decode().rstrip("=").lower()


class Connection:
    """One persistent pinned HTTPS connection to one server (use from one thread)."""

    def __init__(self, nurl: Nurl, source: str | None = None):
        """``source``: the local address to connect from (to be seen as another client)."""
        self.nurl = nurl
        self._source = None if source is None else (source, 0)
        self._auth = "Tahoe-LAFS " + _b64(nurl.swissnum.encode())
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE  # pinned below instead, like the stock client
        self._conn: http.client.HTTPSConnection | None = None

    def _connect(self) -> http.client.HTTPSConnection:
        conn = http.client.HTTPSConnection(
            self.nurl.host,
            self.nurl.port,
            context=self._context,
            timeout=_TIMEOUT,
            source_address=self._source,
        )
        conn.connect()
        assert isinstance(conn.sock, ssl.SSLSocket)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        der = conn.sock.getpeercert(binary_form=True)
        if der is None or spki_hash(der) != self.nurl.spki_hash:
            conn.close()
            raise ProtocolError("server certificate does not match the NURL's SPKI hash")
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Sequence[tuple[str, str]] = (),
        expect: Iterable[int] = (200,),
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                conn.putrequest(method, "/storage/v1" + path, skip_accept_encoding=True)
                conn.putheader("Authorization", self._auth)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body) if body else 0))
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A pooled connection the server closed while idle: reconnect once.
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.status not in expect:
                raise ProtocolError(
                    f"{method} {path.split('/')[1]}: HTTP {response.status} {data[:200]!r}"
                )
            return response.status, data
        raise AssertionError("unreachable")

    # --- the operations --------------------------------------------------------------

    def version(self) -> dict[bytes, object]:
        _, body = self.request("GET", "/version")
        answer = cbor2.loads(body)
        if not isinstance(answer, dict):
            raise ProtocolError("version answer is not a map")
        return answer

    def list_shares(self, si: str, kind: str = "immutable") -> set[int]:
        _, body = self.request("GET", f"/{kind}/{si}/shares")
        return set(cbor2.loads(body))

    def allocate(self, si: str, secrets: Secrets, shares: Iterable[int], size: int) -> set[int]:
        body = cbor2.dumps({"share-numbers": set(shares), "allocated-size": size})
        headers = [
            ("Content-Type", "application/cbor"),
            ("X-Tahoe-Authorization", "lease-renew-secret " + _b64(secrets.renew)),
            ("X-Tahoe-Authorization", "lease-cancel-secret " + _b64(secrets.cancel)),
            ("X-Tahoe-Authorization", "upload-secret " + _b64(secrets.upload)),
        ]
        _, answer = self.request("POST", f"/immutable/{si}", body, headers)
        return set(cbor2.loads(answer)["allocated"])

    def write(self, si: str, share: int, secrets: Secrets, offset: int, data: bytes) -> int:
        headers = [
            ("Content-Range", f"bytes {offset}-{offset + len(data) - 1}/*"),
            ("X-Tahoe-Authorization", "upload-secret " + _b64(secrets.upload)),
        ]
        status, _ = self.request("PATCH", f"/immutable/{si}/{share}", data, headers, (200, 201))
        return status

    def read(self, si: str, share: int, offset: int, size: int, kind: str = "immutable") -> bytes:
        headers = [("Range", f"bytes={offset}-{offset + size - 1}")]
        _, data = self.request("GET", f"/{kind}/{si}/{share}", None, headers, (206, 204))
        return data

    def upload(
        self, si: str, secrets: Secrets, size: int, piece: bytes, query: bool = True
    ) -> None:
        """One share (number 0) of ``size`` bytes, as the stock uploader sends it.

        ``query=False`` leaves out the shares query the stock client sends first.
        """
        if query:
            self.list_shares(si)
        if self.allocate(si, secrets, [0], size) != {0}:
            raise ProtocolError("share 0 was not allocated")
        offset, status = 0, 200
        while offset < size:
            chunk = piece[: min(len(piece), size - offset)]
            status = self.write(si, 0, secrets, offset, chunk)
            offset += len(chunk)
        if status != 201:
            raise ProtocolError("upload did not complete")

    def download(
        self,
        si: str,
        size: int,
        latencies: list[float] | None = None,
        deadline: float = 0.0,
        query: bool = True,
    ) -> int:
        """Read share 0 in 1 MiB ranges, then probe past its end like the downloader.

        With a ``deadline`` (``time.monotonic()``), stop early once it passed;
        returns the bytes read.
        """
        if query and 0 not in self.list_shares(si):
            raise ProtocolError("share 0 missing")
        got = 0
        while got < size:
            if deadline and time.monotonic() > deadline:
                return got
            start = time.perf_counter()
            data = self.read(si, 0, got, min(PIECE, size - got))
            if latencies is not None:
                latencies.append(time.perf_counter() - start)
            if not data:
                raise ProtocolError("short share")
            got += len(data)
        if self.read(si, 0, size, PIECE):
            raise ProtocolError("data past the end of the share")
        return got

    def read_test_write(self, si: str, secrets: Secrets, old: bytes | None, new: bytes) -> bool:
        """Replace a mutable share's contents when it still holds ``old`` (None: absent)."""
        test = [] if old is None else [{"offset": 0, "size": len(old), "specimen": old}]
        vectors = {0: {"test": test, "write": [{"offset": 0, "data": new}], "new-length": None}}
        body = cbor2.dumps(
            {"test-write-vectors": vectors, "read-vector": [{"offset": 0, "size": 64}]}
        )
        headers = [
            ("Content-Type", "application/cbor"),
            ("X-Tahoe-Authorization", "write-enabler " + _b64(secrets.write_enabler)),
            ("X-Tahoe-Authorization", "lease-renew-secret " + _b64(secrets.renew)),
            ("X-Tahoe-Authorization", "lease-cancel-secret " + _b64(secrets.cancel)),
        ]
        _, answer = self.request("POST", f"/mutable/{si}/read-test-write", body, headers)
        return bool(cbor2.loads(answer)["success"])


class Pool:
    """``concurrency`` worker threads, each with its own persistent connection."""

    def __init__(self, nurl: Nurl, concurrency: int):
        self.concurrency = concurrency
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        self._nurl = nurl
        self._executor = ThreadPoolExecutor(concurrency)

    def connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = Connection(self._nurl)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def run(self, jobs: Sequence[Callable[[Connection], object]]) -> list[object]:
        """Run every job, ``concurrency`` at a time; raise the first error."""
        futures = [self._executor.submit(self._call, job) for job in jobs]
        return [f.result() for f in futures]

    def _call(self, job: Callable[[Connection], object]) -> object:
        return job(self.connection())

    def run_for(
        self, job: Callable[[Connection, int], object], max_count: int, max_seconds: float
    ) -> int:
        """Run ``job(conn, i)`` up to ``max_count`` times or ``max_seconds``; return the count."""
        deadline = time.monotonic() + max_seconds
        counter = iter(range(max_count))
        lock = threading.Lock()
        done = [0]

        def worker() -> None:
            conn = self.connection()
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                job(conn, i)
                with lock:
                    done[0] += 1

        for f in [self._executor.submit(worker) for _ in range(self.concurrency)]:
            f.result()
        return done[0]

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for conn in self._connections:
            conn.close()
