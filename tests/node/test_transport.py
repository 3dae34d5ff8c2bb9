"""The node's TLS listener as a client meets it: cipher suites and over-long header lines.

A real ``tahoe-cloud run`` process and Python's own TLS client. The stock
client's TLS 1.3 path is covered by the interop tests.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from tests.node.test_run import Storage, make_node
from tests.support.stock_client import CloudNode

#: TLS 1.2 suites with CBC encryption (SHA-1 and SHA-2 MACs), RSA and ECDSA certificates.
CBC_SUITES = (
    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:"
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256:"
    "ECDHE-RSA-AES256-SHA384:AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256:"
    "DHE-RSA-AES128-SHA:DHE-RSA-AES256-SHA"
)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudNode]:
    running = CloudNode(make_node(tmp_path_factory.mktemp("transport")))
    running.start()
    try:
        yield running
    finally:
        assert running.stop() == 0


def client_context(*, tls12: bool = False, ciphers: str | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate is pinned by the NURL, not a CA
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers is not None:
        context.set_ciphers(ciphers)
    return context


def connect(node: CloudNode, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", Storage(node).port), timeout=10)
    try:
        return context.wrap_socket(raw)
    except BaseException:
        raw.close()
        raise


def test_tls12_offers_no_cbc_suite(node: CloudNode) -> None:
    context = client_context(tls12=True, ciphers=CBC_SUITES)
    assert {c["name"] for c in context.get_ciphers()} >= {"ECDHE-ECDSA-AES128-SHA", "AES128-SHA"}
    with pytest.raises(ssl.SSLError, match=r"HANDSHAKE_FAILURE|NO_SHARED_CIPHER|alert"):
        connect(node, context).close()


@pytest.mark.parametrize(
    ("suites", "expected"), [("ECDHE+AESGCM", "GCM"), ("ECDHE+CHACHA20", "CHACHA20")]
)
def test_tls12_aead_suites_work(node: CloudNode, suites: str, expected: str) -> None:
    with connect(node, client_context(tls12=True, ciphers=suites)) as tls:
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        assert cipher is not None and cipher[0].startswith("ECDHE-") and expected in cipher[0]


def test_tls13_is_unchanged(node: CloudNode) -> None:
    with connect(node, client_context()) as tls:
        assert tls.version() == "TLSv1.3"


def read_all(tls: ssl.SSLSocket, limit: float) -> tuple[bytes, bool]:
    """What the server sends until it closes (True) or ``limit`` seconds pass (False)."""
    received = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        tls.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = tls.recv(65536)
        except TimeoutError:
            break
        except (ssl.SSLError, ConnectionError):
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


@pytest.mark.parametrize("complete", [True, False], ids=["whole-line", "no-line-end-yet"])
def test_over_long_header_line_is_431_at_once(node: CloudNode, complete: bool) -> None:
    head = b"GET /storage/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 20_000
    started = time.monotonic()
    with connect(node, client_context()) as tls:
        tls.sendall(head + (b"\r\n\r\n" if complete else b""))
        answer, closed = read_all(tls, 10)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert closed, "the connection must be closed after the 431"
    assert time.monotonic() - started < 5  # not the 60 s idle timeout


def test_an_ordinary_request_still_works(node: CloudNode) -> None:
    status, body = Storage(node).request("GET", "version", headers={"X-Padding": "a" * 8000})
    assert status == 200 and body


def test_too_many_header_bytes_in_all_is_400_at_once(node: CloudNode) -> None:
    lines = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20))
    started = time.monotonic()
    with connect(node, client_context()) as tls:
        tls.sendall(b"GET /storage/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n")
        answer, closed = read_all(tls, 10)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    assert closed and time.monotonic() - started < 5
