"""``tahoe-cloud run`` as a real process: configuration errors, TLS, a clean stop on a signal."""

from __future__ import annotations

import base64
import http.client
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import cbor2
import pytest

from tests.support.stock_client import TAHOE_CLOUD, CloudNode

REPO = Path(__file__).resolve().parents[2]


def tahoe_cloud(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TAHOE_CLOUD, *args], capture_output=True, text=True, cwd=str(REPO), timeout=60
    )


def make_node(tmp_path: Path, backend: str = "disk") -> Path:
    nodedir = tmp_path / "node"
    done = tahoe_cloud("create-node", "--backend", backend, str(nodedir))
    assert done.returncode == 0, done.stderr
    return nodedir


def set_config(nodedir: Path, old: str, new: str) -> None:
    cfg = nodedir / "tahoe.cfg"
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("backend = disk", "backend = nosuch", "section [storage], key 'backend'"),
        ("enabled = true", "enabled = true\nreserved_space = lots", "key 'reserved_space'"),
        ("tub.location = tcp:", "tub.location = AUTO\n#", "key 'tub.location'"),
        ("tub.port = tcp:", "tub.port = bogus:", "key 'tub.port'"),
        ("enabled = true", "enabled = false", "key 'enabled'"),
        (
            "backend = disk",
            "backend = disk\n[testing]\nlease_view.port = tcp:23999",
            "section [testing], key 'lease_view.port'",
        ),
        (
            "backend = disk",
            "backend = disk\n[testing]\nfake_clock = true",
            "section [testing], key 'fake_clock'",
        ),
    ],
)
def test_bad_configuration_exits_1_with_one_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    nodedir = make_node(tmp_path)
    set_config(nodedir, old, new)
    done = tahoe_cloud("run", str(nodedir))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("tahoe-cloud run: ")
    assert str(nodedir / "tahoe.cfg") in lines[0]
    assert expected in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_missing_node_directory_exits_1(tmp_path: Path) -> None:
    done = tahoe_cloud("run", str(tmp_path / "nothing"))
    assert done.returncode == 1
    assert "not a directory" in done.stderr


def test_port_in_use_exits_1(tmp_path: Path) -> None:
    nodedir = make_node(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        set_config(nodedir, "tub.port = tcp:", f"tub.port = tcp:{port}:interface=127.0.0.1\n#")
        done = tahoe_cloud("run", str(nodedir))
    assert done.returncode == 1
    assert "cannot listen" in done.stderr


def test_create_node_refuses_existing_directory(tmp_path: Path) -> None:
    nodedir = make_node(tmp_path)
    before = (nodedir / "private" / "swissnum").read_bytes()
    done = tahoe_cloud("create-node", str(nodedir))
    assert done.returncode == 1
    assert "refusing to overwrite" in done.stderr
    assert (nodedir / "private" / "swissnum").read_bytes() == before


def test_create_node_writes_upstream_style_config(tmp_path: Path) -> None:
    from tahoe_cloud.config import read_node_config

    nodedir = tmp_path / "n"
    done = tahoe_cloud("create-node", "--nickname", "nick", "--port", "23456", str(nodedir))
    assert done.returncode == 0, done.stderr
    config = read_node_config(nodedir)
    assert config.nickname == "nick"
    assert config.tub_port == "tcp:23456:interface=127.0.0.1"
    assert config.tub_location == "tcp:127.0.0.1:23456"
    assert config.storage.enabled and config.storage.backend == "disk"
    nurl = tahoe_cloud("nurl", str(nodedir)).stdout.strip()
    assert nurl.startswith("pb://") and nurl.endswith(
        "@127.0.0.1:23456/" + _swissnum(nodedir) + "#v=1"
    )
    public = tahoe_cloud(
        "create-node", "--hostname", "example.org", "--port", "1234", str(tmp_path / "p")
    )
    assert public.returncode == 0
    text = (tmp_path / "p" / "tahoe.cfg").read_text()
    assert "tub.port = tcp:1234\n" in text and "tub.location = tcp:example.org:1234\n" in text


def _swissnum(nodedir: Path) -> str:
    return (nodedir / "private" / "swissnum").read_text().strip()


class Storage:
    """A tiny blocking GBS client over TLS (the certificate is self-signed: no verification)."""

    def __init__(self, node: CloudNode) -> None:
        nurl = node.announcement_nurl()
        self.port = int(nurl.split("@")[1].split("/")[0].split(":")[1])
        self.auth = "Tahoe-LAFS " + base64.b64encode(_swissnum(node.nodedir).encode()).decode()

    def connect(self) -> http.client.HTTPSConnection:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)

    def send_head(
        self,
        conn: http.client.HTTPSConnection,
        method: str,
        path: str,
        length: int,
        headers: dict[str, str] | None = None,
        secrets: tuple[str, ...] | list[str] = (),
    ) -> None:
        """Send a request's line and headers (``Content-Length: length``), not its body."""
        # One X-Tahoe-Authorization header per secret, as the client sends them.
        conn.putrequest(method, path if path.startswith("/") else "/storage/v1/" + path)
        for name, value in [("Authorization", self.auth), *(headers or {}).items()]:
            conn.putheader(name, value)
        for secret in secrets:
            conn.putheader("X-Tahoe-Authorization", secret)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        secrets: tuple[str, ...] | list[str] = (),
    ) -> tuple[int, bytes]:
        conn = self.connect()
        try:
            self.send_head(conn, method, path, len(body), headers, secrets)
            conn.send(body)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()


def _secret(kind: str, value: bytes) -> str:
    return f"{kind} {base64.b64encode(value).decode()}"


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT meanwhile, so that a process started now inherits "ignore SIGINT".

    So does every process started from a non-interactive shell's background
    job (``./dev test ... &`` in a script, say): such a run's nodes ignored
    SIGINT until the fix in ``tahoe_cloud.cli.run``.
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    ("backend", "signame", "inherit_ignored_sigint"),
    [
        ("disk", "SIGTERM", False),
        ("disk", "SIGINT", False),
        ("disk", "SIGINT", True),
        ("cloud.s3", "SIGTERM", False),
        ("cloud.s3", "SIGINT", True),
    ],
    ids=[
        "disk-SIGTERM",
        "disk-SIGINT",
        "disk-SIGINT-ignored-by-the-parent",
        "cloud.s3-SIGTERM",
        "cloud.s3-SIGINT-ignored-by-the-parent",
    ],
)
def test_signal_stops_cleanly_and_aborts_in_flight_uploads(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    signame: str,
    inherit_ignored_sigint: bool,
) -> None:
    """The node stops within seconds, exit 0, whatever its clients are doing.

    When the signal comes, one upload is half written, a client holds an idle
    keep-alive connection and another has sent half of a write's body.
    """
    if backend == "disk":
        node = CloudNode(make_node(tmp_path))
    else:
        from tests.interop.grid import s3_node
        from tests.support.s3 import new_bucket_name

        moto = request.getfixturevalue("moto")
        node = s3_node(
            tmp_path / "node", moto, new_bucket_name(), prefix="node", create_container=True
        )
    with sigint_ignored() if inherit_ignored_sigint else nullcontext():
        node.start()
    storage = Storage(node)
    si = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
    allocate_secrets = [
        _secret("lease-renew-secret", b"r" * 32),
        _secret("lease-cancel-secret", b"c" * 32),
        _secret("upload-secret", b"u" * 20),
    ]
    body = cbor2.dumps({"share-numbers": {0, 1}, "allocated-size": 100})
    status, _ = storage.request(
        "POST", f"immutable/{si}", body, {"Content-Type": "application/cbor"}, allocate_secrets
    )
    assert status == 200
    write = [_secret("upload-secret", b"u" * 20)]
    data = bytes(range(100))
    status, _ = storage.request(
        "PATCH", f"immutable/{si}/0", data, {"Content-Range": "bytes 0-99/*"}, write
    )
    assert status == 201
    # Share 1 is half written when the node is told to stop.
    status, _ = storage.request(
        "PATCH", f"immutable/{si}/1", data[:50], {"Content-Range": "bytes 0-49/*"}, write
    )
    assert status == 200
    idle = storage.connect()
    storage.send_head(idle, "GET", "version", 0)
    answer = idle.getresponse()
    assert answer.status == 200 and answer.getheader("Connection") != "close"
    answer.read()  # the connection stays open, kept alive
    writing = storage.connect()
    storage.send_head(
        writing, "PATCH", f"immutable/{si}/1", 50, {"Content-Range": "bytes 50-99/*"}, write
    )
    writing.send(data[50:75])  # and the rest never comes
    assert node.process is not None
    # Well within Process.stop's default 30 s, even on a loaded machine.
    status = node.process.stop(getattr(signal, signame), timeout=15)
    output = node.process.output()
    assert status == 0, output
    assert f"Received {signame}, shutting down." in output
    assert "storage node stopped" in output
    idle.close()
    writing.close()
    if backend == "disk":
        incoming = node.nodedir / "storage" / "shares" / "incoming"
        assert not incoming.exists() or not any(p.is_file() for p in incoming.rglob("*"))

    node.start()
    storage = Storage(node)
    status, shares = storage.request("GET", f"immutable/{si}/shares")
    assert status == 200
    assert cbor2.loads(shares) == {0}
    status, read = storage.request("GET", f"immutable/{si}/0", headers={"Range": "bytes=0-99"})
    assert (status, read) == (206, data)
    assert node.stop() == 0


def test_lease_view_is_never_on_the_storage_listener(tmp_path: Path) -> None:
    nodedir = make_node(tmp_path, backend="memory")
    node = CloudNode(nodedir)
    node.start()
    try:
        storage = Storage(node)
        si = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
        for path in (f"/leases/{si}", f"/storage/v1/leases/{si}", "/clock"):
            status, _ = storage.request("GET", path)
            assert status == 404, path
    finally:
        assert node.stop() == 0


def test_main_module_prints_usage_without_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tahoe_cloud.cli.main"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "create-node" in done.stderr
