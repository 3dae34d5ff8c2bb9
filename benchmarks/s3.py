"""The S3 side: buckets, the raw-S3 ceiling, and a request-counting proxy with list prices.

The ceiling is what a plain S3 client (boto3) gets from the SAME moto server
at the same concurrency with the same bytes: whole-object PUTs and GETs, no
storage protocol in between. cloud.s3 is compared with it.

``CountingProxy`` sits between a cloud.s3 node and moto for the request-count
workload only (not for throughput): it forwards every request unchanged and
counts them by S3 operation, which with the list prices gives the cost of a
storage operation.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# S3 Standard, us-east-1 list prices per request (docs/s3.md; check the current price list).
PRICE_WRITE = 0.005 / 1000  # PUT, COPY, POST, LIST
PRICE_READ = 0.0004 / 1000  # GET, HEAD
WRITE_OPS = {
    "PutObject",
    "UploadPart",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListMultipartUploads",
    "ListParts",
    "DeleteObjects",
}
READ_OPS = {"GetObject", "HeadObject"}


def s3_client(url: str, concurrency: int) -> Any:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing-key-id",
        aws_secret_access_key="testing-secret",  # noqa: S106 (moto accepts any)
        config=Config(
            max_pool_connections=max(concurrency, 2),
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def node_settings(url: str, bucket: str, prefix: str) -> dict[str, str]:
    """``CloudServer``'s ``s3`` settings for a benchmark node on moto (no signature check)."""
    return {
        "bucket": bucket,
        "url": url,
        "prefix": prefix,
        "access_key_id": "testing-key-id",
        "secret": "testing-secret",
    }


def create_bucket(url: str, bucket: str) -> None:
    s3_client(url, 1).create_bucket(Bucket=bucket)


def raw_put_get(
    url: str,
    bucket: str,
    size: int,
    count: int,
    concurrency: int,
    body: bytes,
    max_ranged_seconds: float = 30.0,
) -> dict[str, float]:
    """PUT ``count`` objects of ``size`` bytes, then GET them; return (put, get) seconds."""
    client = s3_client(url, concurrency)
    data = memoryview(body)[:size]
    keys = [f"ceiling/{size}/{i}-{time.monotonic_ns()}" for i in range(count)]
    with ThreadPoolExecutor(concurrency) as pool:
        start = time.monotonic()
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=bytes(data)), keys))
        put = time.monotonic() - start

        def get(key: str) -> int:
            stream = client.get_object(Bucket=bucket, Key=key)["Body"]
            n = 0
            while chunk := stream.read(1024 * 1024):
                n += len(chunk)
            if n != size:
                raise RuntimeError("short GET from moto")
            return n

        start = time.monotonic()
        list(pool.map(get, keys))
        got = time.monotonic() - start
        deadline = time.monotonic() + max_ranged_seconds

        def get_ranges(key: str) -> int:
            """The storage protocol's read pattern: 1 MiB ranged GETs."""
            n = 0
            while n < size and time.monotonic() < deadline:
                end = min(size, n + 1024 * 1024) - 1
                stream = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={n}-{end}")
                n += len(stream["Body"].read())
            return n

        start = time.monotonic()
        ranged = sum(pool.map(get_ranges, keys))
        ranged_seconds = time.monotonic() - start
        list(pool.map(lambda k: client.delete_object(Bucket=bucket, Key=k), keys))
    moved = size * count
    return {
        "up_MBps": moved / put / 1e6,
        "down_MBps": moved / got / 1e6,
        "ranged_down_MBps": ranged / ranged_seconds / 1e6,
    }


def classify(method: str, target: str) -> str:
    query = parse_qs(urlsplit(target).query, keep_blank_values=True)
    if method == "PUT":
        return "UploadPart" if "partNumber" in query else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "DeleteObjects" if "delete" in query else "POST"
    if method == "GET":
        if "uploads" in query:
            return "ListMultipartUploads"
        if "uploadId" in query:
            return "ListParts"
        return "ListObjectsV2" if "list-type" in query or "prefix" in query else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return method


def cost(counts: Counter[str]) -> float:
    return sum(
        n * (PRICE_WRITE if op in WRITE_OPS else PRICE_READ if op in READ_OPS else 0.0)
        for op, n in counts.items()
    )


class CountingProxy:
    """A forwarding HTTP/1.1 proxy on loopback that counts S3 requests by operation."""

    def __init__(self, target_url: str):
        target = urlsplit(target_url)
        host = target.hostname or "127.0.0.1"
        self.counts: Counter[str] = Counter()
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # S3 request lines carry signatures: never log them

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self) -> None:
                body = self._body()
                with lock:
                    proxy.counts[classify(self.command, self.path)] += 1
                conn = http.client.HTTPConnection(host, target.port, timeout=120)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("transfer-encoding", "content-length", "connection")
                }
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                self.send_response_only(answer.status, answer.reason)
                for k, v in answer.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                elif answer.getheader("Content-Length"):
                    self.send_header("Content-Length", answer.getheader("Content-Length") or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def take(self) -> Counter[str]:
        """The counts since the last call (and reset them)."""
        counts = Counter(self.counts)
        self.counts.clear()
        return counts

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
