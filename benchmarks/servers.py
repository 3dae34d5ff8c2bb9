"""The servers measured, each a subprocess in its own process group, and their OS accounting.

* ``CloudServer``: ``tahoe-cloud run`` on a node made by ``tahoe-cloud create-node``
  (disk, or cloud.s3 pointed at a moto server);
* ``UpstreamServer``: a stock tahoe-lafs 1.20 storage node (``tahoe run``) from the
  cached upstream virtualenv (``tools/upstream-venv``), HTTP storage on loopback;
* ``Moto``: ``moto_server`` on loopback, the S3 both cloud.s3 and the raw-S3 ceiling use.

``ProcessMeter`` reads the server process's CPU seconds (user + system) and
resident memory from /proc: the figures that do not depend on the load generator
sharing the machine. Every process is stopped by its own process group.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TAHOE_CLOUD = [sys.executable, "-m", "tahoe_cloud.cli.main"]
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free loopback port below the ephemeral range (32768), like the test helpers."""
    for _ in range(200):
        port = int.from_bytes(os.urandom(2), "big") % 20000 + 10000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def upstream_venv() -> Path:
    done = subprocess.run(
        [str(REPO / "tools" / "upstream-venv")],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return Path(done.stdout.strip())


class ProcessMeter:
    """CPU seconds and resident memory of one process, from /proc."""

    def __init__(self, pid: int):
        self.pid = pid
        self._peak = 0
        self._sampling = threading.Event()
        self._thread: threading.Thread | None = None

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # fields[11], fields[12] are utime and stime (fields 14 and 15 of stat(5)).
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def rss(self) -> int:
        return self._status("VmRSS")

    def start_peak(self) -> None:
        """Start tracking the peak RSS from now (resets the kernel's high-water mark too)."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            pass
        self._peak = self.rss()
        self._sampling.set()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while self._sampling.is_set():
            try:
                self._peak = max(self._peak, self.rss())
            except OSError:
                return
            time.sleep(0.02)

    def stop_peak(self) -> int:
        self._sampling.clear()
        if self._thread is not None:
            self._thread.join()
        try:
            hwm = self._status("VmHWM")
        except OSError:
            hwm = 0
        return max(self._peak, hwm)


class Managed:
    """A subprocess in its own session; output to a log file; stopped by process group."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=str(REPO),
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        self._out.close()


class Server:
    """What the benchmark needs of any server: a NURL, a pid, start and stop."""

    name = "server"
    nodedir: Path
    process: Managed | None = None
    nurl: str = ""

    @property
    def storage_dir(self) -> Path:
        return self.nodedir / "storage"

    def meter(self) -> ProcessMeter:
        assert self.process is not None
        return ProcessMeter(self.process.pid)

    def start(self) -> float:
        """Start the process; returns the seconds until the server answered a version request."""
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def _time_until_version(nurl: str, process: Managed, timeout: float, started: float) -> float:
    from benchmarks.loadgen import Connection, Nurl, ProtocolError

    conn = Connection(Nurl.parse(nurl))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not process.running():
                raise RuntimeError(f"server exited:\n{process.output()[-3000:]}")
            try:
                conn.version()
                return time.monotonic() - started
            except (OSError, ProtocolError, http.client.HTTPException):  # not serving yet
                conn.close()
                time.sleep(0.02)
    finally:
        conn.close()
    raise TimeoutError("server did not answer a version request")


class CloudServer(Server):
    def __init__(
        self,
        nodedir: Path,
        *,
        backend: str = "disk",
        s3: dict[str, str] | None = None,
        variant: str | None = None,
        env: dict[str, str] | None = None,
    ):
        """``variant``: run through ``benchmarks.variants`` (profiling only); ``env``: added
        to the server's environment."""
        self.name = f"tahoe-cloud {backend}" + (f" ({variant})" if variant else "")
        self.nodedir = nodedir
        self.variant = variant
        self.env = env
        if not (nodedir / "tahoe.cfg").exists():
            argv = [*TAHOE_CLOUD, "create-node", "--backend", backend]
            argv += ["--port", str(free_port()), str(nodedir)]
            options: list[str] = []
            for key, value in (s3 or {}).items():
                if key != "secret":
                    options += [f"--s3-{key.replace('_', '-')}", value]
            done = subprocess.run(
                argv[:-1] + options + argv[-1:],
                input=(s3 or {}).get("secret", ""),
                capture_output=True,
                text=True,
                cwd=str(REPO),
            )
            if done.returncode != 0:
                raise RuntimeError(f"tahoe-cloud create-node failed: {done.stderr.strip()}")
        done = subprocess.run(
            [*TAHOE_CLOUD, "nurl", str(nodedir)],
            check=True,
            capture_output=True,
            text=True,
            cwd=str(REPO),
        )
        self.nurl = done.stdout.split()[0]

    def start(self) -> float:
        started = time.monotonic()
        command = [str(VENV_BIN / "tahoe-cloud")]
        if self.variant is not None:
            command = [sys.executable, "-m", "benchmarks.variants", self.variant]
        self.process = Managed(
            [*command, "run", str(self.nodedir)],
            self.nodedir.parent / f"{self.nodedir.name}.log",
            env=self.env,
        )
        return _time_until_version(self.nurl, self.process, 120, started)


class UpstreamServer(Server):
    def __init__(self, nodedir: Path):
        self.name = "upstream 1.20"
        self.nodedir = nodedir
        self.tahoe = str(upstream_venv() / "bin" / "tahoe")
        if not (nodedir / "tahoe.cfg").exists():
            port = free_port()
            subprocess.run(
                [
                    self.tahoe,
                    "create-node",
                    "--nickname",
                    "upstream",
                    f"--port=tcp:{port}:interface=127.0.0.1",
                    f"--location=tcp:127.0.0.1:{port}",
                    "--webport=none",
                    str(nodedir),
                ],
                check=True,
                capture_output=True,
            )

    def start(self) -> float:
        started = time.monotonic()
        self.process = Managed(
            [self.tahoe, "run", "--allow-stdin-close", str(self.nodedir)],
            self.nodedir.parent / f"{self.nodedir.name}.log",
        )
        furl = self.nodedir / "private" / "storage.furl"
        process = self.process
        wait_for(lambda: furl.exists() or not process.running(), 120, "upstream's storage.furl")
        if not self.nurl:
            done = subprocess.run(
                [*TAHOE_CLOUD, "nurl", str(self.nodedir)],
                check=True,
                capture_output=True,
                text=True,
                cwd=str(REPO),
            )
            self.nurl = done.stdout.split()[0]
        return _time_until_version(self.nurl, self.process, 120, started)


class Moto:
    """moto_server on loopback (no signature checking: the ceiling and cloud.s3 see the same)."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Managed(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)], log
        )
        wait_for(lambda: listening(self.port), 60, "moto_server")

    def meter(self) -> ProcessMeter:
        return ProcessMeter(self.process.pid)

    def stop(self) -> None:
        self.process.stop()
