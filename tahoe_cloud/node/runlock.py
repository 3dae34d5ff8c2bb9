"""One process per node directory.

Two processes working on one node's storage destroy each other's work: a
backend clears the uploads in progress when it starts (the disk backend
empties ``incoming/``; cloud.s3 aborts its multipart uploads and clears its
spool). So ``run``, for its whole life, and every command that would start a
backend, while it works, hold an exclusive ``flock`` on
``running.process.lock``. The kernel drops that lock when the process dies,
so a killed node never blocks its own restart.

The holder's pid goes in ``running.process``, written as upstream Tahoe-LAFS
1.20's ``tahoe run`` writes it (``PID CREATE-TIME``), for the refusal message
and for upstream: an upstream ``tahoe run`` on the same directory gives up
on the lock we hold, and an upstream node holds that lock only for a moment,
so its live pid in ``running.process`` is what tells us it runs.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from tahoe_cloud.errors import TahoeCloudError

PID_FILE = "running.process"
LOCK_FILE = "running.process.lock"

# An upstream node holds the lock while it checks or removes running.process.
_BRIEF_HOLD = 2.0


class NodeRunning(TahoeCloudError):
    """Another process (a running node, or a command working on it) uses the node directory."""

    def __init__(self, nodedir: Path, pid: int | None, command: str) -> None:
        self.nodedir = nodedir
        self.pid = pid
        self.command = command
        super().__init__(str(self))

    def __str__(self) -> str:
        who = f"pid {self.pid}" if self.pid is not None else "pid unknown"
        what = (
            "a node must not run twice"
            if self.command == "run"
            else f"{self.command} would touch its storage"
        )
        how = f"`kill {self.pid}`" if self.pid is not None else "Ctrl-C or SIGTERM"
        return (
            f"the node in {self.nodedir} is already running ({who}) and {what};"
            f" stop it first ({how}) and try again"
        )


class NodeLock:
    """The held lock; ``release`` (or the process's death) frees it."""

    def __init__(self, nodedir: Path, fd: int) -> None:
        self.nodedir = nodedir
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        pid_file = self.nodedir / PID_FILE
        if _read_pid_file(pid_file)[0] == os.getpid():
            pid_file.unlink(missing_ok=True)
        os.close(self._fd)  # closing the only descriptor drops the flock
        self._fd = None

    def __enter__(self) -> NodeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_node_directory(nodedir: Path, command: str) -> NodeLock:
    """Take the node directory for ``command``, or raise ``NodeRunning``.

    Any other failure (a read-only directory, a file system without ``flock``)
    is a ``TahoeCloudError`` too: without the lock nothing may start.
    """
    try:
        fd = os.open(nodedir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise _cannot_lock(nodedir, e) from None
    try:
        _flock(fd, nodedir, command)
        pid = _live_pid(nodedir / PID_FILE)
        if pid is not None:
            raise NodeRunning(nodedir, pid, command)  # an upstream node: it does not hold the lock
        _write_pid_file(nodedir / PID_FILE)
    except OSError as e:
        os.close(fd)
        raise _cannot_lock(nodedir, e) from None
    except BaseException:
        os.close(fd)
        raise
    return NodeLock(nodedir, fd)


def _cannot_lock(nodedir: Path, e: OSError) -> TahoeCloudError:
    reason = e.strerror or type(e).__name__
    return TahoeCloudError(f"cannot lock the node directory {nodedir} ({LOCK_FILE}): {reason}")


def _flock(fd: int, nodedir: Path, command: str) -> None:
    deadline = time.monotonic() + _BRIEF_HOLD
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pid = _read_pid_file(nodedir / PID_FILE)[0]
            if pid is not None or time.monotonic() >= deadline:
                raise NodeRunning(nodedir, pid, command) from None
            time.sleep(0.05)  # no pid yet: an upstream node checking for one, or starting


def _read_pid_file(path: Path) -> tuple[int | None, float | None]:
    try:
        pid, created = path.read_text(encoding="ascii").split()
        return int(pid), float(created)
    except (OSError, ValueError):
        return None, None


def _live_pid(path: Path) -> int | None:
    """The pid ``path`` names if that process still runs (else the file is stale)."""
    pid, created = _read_pid_file(path)
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, owned by someone else
    actual = _create_time(pid)
    if actual is not None and created is not None and abs(actual - created) > 1.0:
        return None  # the pid was reused by another process
    return pid


def _write_pid_file(path: Path) -> None:
    created = _create_time(os.getpid())
    text = f"{os.getpid()} {created if created is not None else time.time()}\n"
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text, encoding="ascii")
    os.replace(temp, path)


def _create_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch, as upstream records it (Linux only)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text(encoding="ascii").splitlines()
            if line.startswith("btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")
