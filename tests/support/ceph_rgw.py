"""A throwaway one-node Ceph cluster with the RADOS Gateway (RGW) on loopback, for tests.

RGW is a real, distributed S3 engine: unlike moto it checks Content-MD5 and
has quirks real users meet. ``shared_rgw()`` starts one cluster per test
process on first use (one mon, one memstore OSD, pool size 1, radosgw with the
beast frontend on 127.0.0.1) in a temporary directory, and stops it at exit by
the PIDs it started. ``tools/ceph-rgw-packages`` installs the Debian packages.

Under ``CI=true`` a cluster that cannot be brought up is an error, never a
skip: ``unavailable()`` tells the callers which applies.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from attrs import frozen

from tahoe_cloud.cli.create_node import find_free_port

COMMANDS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "monmaptool")
INSTALL_HINT = (
    "run tools/ceph-rgw-packages as root, or: apt-get install ceph-mon ceph-osd radosgw ceph-common"
)
# RGW accepts only its zonegroup's name as a bucket's LocationConstraint, "default" here.
REGION = "default"
MEMSTORE_BYTES = 3 * 1024**3
START_TIMEOUT = 90.0


@frozen
class RGWServer:
    """How to reach the gateway: path-style endpoint and one user's key pair."""

    url: str
    access_key_id: str
    secret_access_key: str = ""

    def __repr__(self) -> str:  # the secret stays out of test output
        return f"RGWServer(url={self.url!r}, access_key_id={self.access_key_id!r})"


class RGWUnavailable(Exception):
    """The Ceph packages are not installed here."""


def missing_commands() -> list[str]:
    return [c for c in COMMANDS if shutil.which(c) is None]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable() -> str | None:
    """Why the RGW tests cannot run here, or None when they can."""
    missing = missing_commands()
    if not missing:
        return None
    return f"Ceph RGW not installed ({', '.join(missing)} missing): {INSTALL_HINT}"


def _conf(root: Path, mon_port: int, rgw_port: int) -> str:
    return f"""[global]
fsid = {uuid.uuid4()}
mon host = [v2:127.0.0.1:{mon_port}]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = {root}/run
admin socket = {root}/run/$name.asok
log file = {root}/log/$name.log
mon data = {root}/mon/$cluster-$id
osd data = {root}/osd/$cluster-$id
osd objectstore = memstore
memstore device bytes = {MEMSTORE_BYTES}
osd fast shutdown = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
# the mon batches map changes for 1 s by default; start-up makes ~15 of them
paxos propose interval = 0.1
mon warn on pool no redundancy = false
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw thread pool size = 32
# background workers sleep in 5 s steps and delay a SIGTERM until they wake
rgw enable lc threads = false
rgw enable gc threads = false
rgw enable quota threads = false
ms mon client mode = crc secure
"""


class Cluster:
    """The processes of one cluster, started in order and stopped in reverse."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "ceph.conf"
        self.mon_port = find_free_port()
        self.rgw_port = find_free_port()
        self.url = f"http://127.0.0.1:{self.rgw_port}"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        for sub in ("run", "log", "mon", "osd/ceph-0"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(_conf(root, self.mon_port, self.rgw_port))

    def _run(self, *argv: str, timeout: float = 60) -> str:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} {argv[1:3]} failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        return done.stdout

    def _ceph(self, *args: str, timeout: float = 30) -> str:
        return self._run(
            "ceph", "-c", str(self.conf), "--connect-timeout", "10", *args, timeout=timeout
        )

    def _spawn(self, name: str, *argv: str) -> None:
        out = (self.root / "log" / f"{name}.out").open("ab")
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        finally:
            out.close()
        self.processes.append((name, proc))

    def _wait(self, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for name, proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) {self._log_tail(name)}")
            try:
                if ready():
                    return
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    def _log_tail(self, name: str) -> str:
        path = self.root / "log" / f"{name}.out"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def start(self) -> RGWServer:
        conf = str(self.conf)
        monmap = str(self.root / "monmap")
        self._run("monmaptool", "--create", "--fsid", _fsid(self.conf), "--addv", "a",
                  f"[v2:127.0.0.1:{self.mon_port}]", monmap)  # fmt: skip
        self._run("ceph-mon", "-c", conf, "--mkfs", "-i", "a", "--monmap", monmap)
        self._spawn("mon", "ceph-mon", "-c", conf, "-i", "a", "-f")
        self._wait("the Ceph monitor", lambda: bool(self._ceph("mon", "stat")))
        osd_uuid = str(uuid.uuid4())
        osd_id = self._ceph("osd", "new", osd_uuid).strip()
        self._run("ceph-osd", "-c", conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        self._spawn("osd", "ceph-osd", "-c", conf, "-i", osd_id, "-f")
        self._wait("the Ceph OSD", lambda: self._osd_up(int(osd_id)))
        self._spawn("rgw", "radosgw", "-c", conf, "-n", "client.rgw.gw", "-f")
        self._wait("radosgw", self._rgw_answers)
        return self._create_user()

    def _osd_up(self, osd_id: int) -> bool:
        dump = json.loads(self._ceph("osd", "dump", "-f", "json"))
        return any(o["osd"] == osd_id and o["up"] and o["in"] for o in dump["osds"])

    def _rgw_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer: the gateway is serving

    def _create_user(self) -> RGWServer:
        uid = "tahoe-cloud-tests"
        out = self._run("radosgw-admin", "-c", str(self.conf),
                        "user", "create", f"--uid={uid}", f"--display-name={uid}")  # fmt: skip
        (key,) = json.loads(out)["keys"]
        return RGWServer(self.url, key["access_key"], key["secret_key"])

    def stop(self) -> None:
        """SIGTERM each process we started, newest first (rgw, osd, mon); kill if it hangs."""
        for _name, proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()


def _fsid(conf: Path) -> str:
    for line in conf.read_text().splitlines():
        if line.startswith("fsid = "):
            return line.split(" = ", 1)[1]
    raise AssertionError("no fsid in ceph.conf")


_shared: RGWServer | None = None


def shared_rgw() -> RGWServer:
    """The process's one RGW cluster, started on first use and stopped at exit.

    Raises ``RGWUnavailable`` when the packages are missing; any other failure
    to start is a ``RuntimeError``.
    """
    global _shared
    if _shared is None:
        reason = unavailable()
        if reason is not None:
            raise RGWUnavailable(reason)
        root = Path(tempfile.mkdtemp(prefix="tahoe-cloud-rgw-"))
        cluster = Cluster(root)
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        atexit.register(cluster.stop)
        try:
            _shared = cluster.start()
        except BaseException:
            cluster.stop()
            raise
    return _shared


def require_rgw() -> RGWServer:
    """``shared_rgw()`` for a test: skipped with the reason when not installed, failed under CI."""
    try:
        return shared_rgw()
    except RGWUnavailable as e:
        if in_ci():
            pytest.fail(f"CI=true needs the RGW tests: {e}", pytrace=False)
        pytest.skip(str(e))
