"""Real processes for interop tests: tahoe-cloud nodes, upstream nodes and stock clients.

A stock Tahoe-LAFS 1.20 client (from the cached upstream virtualenv, see
``tools/upstream-venv``) is made introducer-less with ``tahoe create-client``;
its ``private/servers.yaml`` lists the servers from ``tahoe-cloud
announcement``. Every process is started in the background with its output in
a file (scanned afterwards for leaked secrets) and stopped by its own pid.

Ports are chosen below 32768 (the kernel's ephemeral range starts there).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from tahoe_cloud.cli.create_node import find_free_port
from tests.support.upstream import upstream_venv

REPO = Path(__file__).resolve().parents[2]
TAHOE_CLOUD = [sys.executable, "-m", "tahoe_cloud.cli.main"]


def tahoe_bin() -> str:
    return str(upstream_venv() / "bin" / "tahoe")


def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A background process whose stdout and stderr go to one log file."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None):
        self.argv = list(argv)
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=str(REPO),
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process (by its own pid) and wait for it; returns its exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


class CloudNode:
    """A tahoe-cloud storage node: ``create-node`` once, then ``run`` (restartable)."""

    def __init__(
        self,
        nodedir: Path,
        *,
        nickname: str = "",
        backend: str = "disk",
        create_args: Sequence[str] = (),
        stdin: bytes = b"",
    ):
        """``create_args``/``stdin``: extra create-node options (e.g. ``--s3-*``) and its input."""
        self.nodedir = nodedir
        self.process: Process | None = None
        self.runs = 0
        if not (nodedir / "tahoe.cfg").exists():
            subprocess.run(
                [*TAHOE_CLOUD, "create-node", "--nickname", nickname, "--backend", backend,
                 "--port", str(find_free_port()), *create_args, str(nodedir)],
                check=True, capture_output=True, cwd=str(REPO), input=stdin,
            )  # fmt: skip

    def announcement(self) -> dict[str, object]:
        out = subprocess.run(
            [*TAHOE_CLOUD, "announcement", str(self.nodedir)],
            check=True, capture_output=True, text=True, cwd=str(REPO),
        )  # fmt: skip
        parsed: dict[str, object] = yaml.safe_load(out.stdout)
        return parsed

    def announcement_nurl(self) -> str:
        (entry,) = self.announcement().values()
        nurls: list[str] = entry["ann"]["anonymous-storage-NURLs"]  # type: ignore[index]
        return nurls[0]

    def start(self) -> None:
        self.runs += 1
        log = self.nodedir.parent / f"{self.nodedir.name}.run{self.runs}.out"
        self.process = Process([*TAHOE_CLOUD, "run", str(self.nodedir)], log)
        process = self.process

        def started() -> bool:
            if not process.running():
                raise RuntimeError(f"tahoe-cloud run exited:\n{process.output()}")
            return "NURL: " in process.output()

        wait_for(started, 30, f"{self.nodedir} to start")

    def stop(self) -> int:
        assert self.process is not None
        status = self.process.stop()
        return status

    def output_files(self) -> list[Path]:
        logs = self.nodedir / "logs"
        files = sorted(self.nodedir.parent.glob(f"{self.nodedir.name}.run*.out"))
        return files + (sorted(logs.iterdir()) if logs.is_dir() else [])


class UpstreamNode:
    """A stock tahoe-lafs 1.20 storage node (client web UI off, no introducer)."""

    def __init__(self, nodedir: Path, port: int):
        self.nodedir = nodedir
        self.port = port
        self.process: Process | None = None
        subprocess.run(
            [tahoe_bin(), "create-node", "--nickname", "upstream",
             f"--port=tcp:{port}:interface=127.0.0.1", f"--location=tcp:127.0.0.1:{port}",
             "--webport=none", str(nodedir)],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        self.process = Process(
            [tahoe_bin(), "run", "--allow-stdin-close", str(self.nodedir)],
            self.nodedir.parent / f"{self.nodedir.name}.out",
        )
        furl = self.nodedir / "private" / "storage.furl"
        wait_for(lambda: furl.exists() and self._listening(), 60, "the upstream node")

    def _listening(self) -> bool:
        import socket

        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> int:
        assert self.process is not None
        return self.process.stop()


class StockClient:
    """An introducer-less stock client talking only to the given servers."""

    def __init__(self, clientdir: Path, *, needed: int, happy: int, total: int):
        self.clientdir = clientdir
        self.webport = find_free_port()
        self.process: Process | None = None
        subprocess.run(
            [tahoe_bin(), "create-client", "--nickname", "interop",
             f"--shares-needed={needed}", f"--shares-happy={happy}", f"--shares-total={total}",
             f"--webport=tcp:{self.webport}:interface=127.0.0.1", str(clientdir)],
            check=True, capture_output=True,
        )  # fmt: skip

    def set_servers(self, announcements: Iterable[dict[str, object]]) -> None:
        storage: dict[str, object] = {}
        for ann in announcements:
            storage.update(ann)
        servers = self.clientdir / "private" / "servers.yaml"
        servers.write_text(yaml.safe_dump({"storage": storage}))
        self.server_ids = sorted(storage)

    def start(self, expect_servers: int | None = None) -> None:
        self.process = Process(
            [tahoe_bin(), "run", "--allow-stdin-close", str(self.clientdir)],
            self.clientdir.parent / f"{self.clientdir.name}.out",
        )
        self.wait_connected(expect_servers)

    def servers(self) -> list[dict[str, object]]:
        url = f"http://127.0.0.1:{self.webport}/?t=json"
        with urllib.request.urlopen(url, timeout=5) as answer:
            servers: list[dict[str, object]] = json.load(answer)["servers"]
            return servers

    def connected(self) -> int:
        try:
            return sum(1 for s in self.servers() if s["connection_status"] == "connected")
        except OSError:
            return 0

    def wait_connected(self, count: int | None = None, timeout: float = 60) -> None:
        want = len(self.server_ids) if count is None else count
        wait_for(lambda: self.connected() >= want, timeout, f"{want} connected servers")

    def tahoe(self, *args: str, timeout: float = 300) -> str:
        """Run ``tahoe -d CLIENTDIR ARGS``; returns stdout, raises with the output on failure."""
        done = subprocess.run(
            [tahoe_bin(), "-d", str(self.clientdir), *args],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(
                f"tahoe {' '.join(args)} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done.stdout

    def stop(self) -> int:
        assert self.process is not None
        return self.process.stop()
