"""Blocking file helpers, and the bounded thread pool they run in.

Everything here blocks; the backend only ever calls it through
:class:`IOPool`, so the reactor thread never waits on the disk. Helpers turn
``OSError`` into ``BackendError`` with a message naming the operation and the
path (paths hold storage indexes, which are not secret) but no file contents.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.python.failure import Failure

from tahoe_cloud.backends.disk.layout import rewrite_temp_path
from tahoe_cloud.errors import BackendError
from tahoe_cloud.formats import ContainerFormatError

P = ParamSpec("P")
T = TypeVar("T")

COPY_CHUNK = 1024 * 1024


_Job = tuple["Deferred[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class IOPool:
    """A small dedicated thread pool for disk I/O, started and stopped with the backend.

    The workers share one ``SimpleQueue`` and hand results back with
    ``callFromThread``. twisted's ``ThreadPool`` (a coordinator, a queue per
    worker, context propagation) cost more than twice as much CPU per
    hand-off, and a request makes several: strace of 1 MiB share downloads
    counted 67 futex calls per share, most of the system time that
    upstream's (synchronous) server does not spend.
    """

    def __init__(self, reactor: IReactorFromThreads, max_threads: int = 4) -> None:
        self._reactor = reactor
        self._max_threads = max_threads
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._running = False

    def start(self) -> None:
        if not self._running:
            self._running = True
            self._threads = [
                # Daemon threads: a process that ends without stop() must not hang
                # at exit; every write is staged and renamed, so being cut off is
                # no worse than a crash.
                threading.Thread(target=self._work, name=f"tahoe-cloud-disk-{i}", daemon=True)
                for i in range(self._max_threads)
            ]
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Let queued work finish, then end the workers (waits for them)."""
        if self._running:
            self._running = False
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
            self._threads = []

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            done, func, args, kwargs = job
            try:
                result = func(*args, **kwargs)
            except BaseException:  # noqa: BLE001 -- every failure goes back to the caller
                failure = Failure()  # type: ignore[no-untyped-call]
                self._reactor.callFromThread(done.errback, failure)
            else:
                self._reactor.callFromThread(done.callback, result)

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking ``func`` in the pool and return its result."""
        if not self._running:
            # Queued work would never run and its caller would hang forever.
            raise BackendError("the disk backend is not started")
        done: Deferred[T] = Deferred()
        self._queue.put((done, func, args, kwargs))
        return await done


def os_error(action: str, path: Path, exc: OSError) -> BackendError:
    """A ``BackendError`` describing a failed file operation."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "unknown error")
    return BackendError(f"disk backend could not {action} {path}: {reason}")


def read_at(fd: int, offset: int, size: int) -> bytes:
    """Read up to ``size`` bytes at ``offset`` (short only at end of file)."""
    pieces = []
    while size > 0:
        piece = os.pread(fd, min(size, COPY_CHUNK * 8), offset)
        if not piece:
            break
        pieces.append(piece)
        offset += len(piece)
        size -= len(piece)
    return b"".join(pieces)


def write_at(fd: int, offset: int, data: bytes) -> None:
    """Write all of ``data`` at ``offset``."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def copy_range(src: int, dst: int, src_offset: int, dst_offset: int, length: int) -> None:
    """Copy ``length`` bytes between file descriptors without holding them in memory."""
    while length > 0:
        chunk = read_at(src, src_offset, min(length, COPY_CHUNK))
        if not chunk:
            raise BackendError("share file shrank while being copied")
        write_at(dst, dst_offset, chunk)
        src_offset += len(chunk)
        dst_offset += len(chunk)
        length -= len(chunk)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_empty_dirs(path: Path, stop: Path) -> None:
    """rmdir ``path`` and its parents up to (not including) ``stop`` while they are empty."""
    while path != stop and stop in path.parents:
        try:
            path.rmdir()
        except OSError:
            return  # not empty (another share or upload), or already gone
        path = path.parent


def replace_atomically(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` over ``final`` and make the rename durable.

    The caller has already fsynced ``tmp``, so after a crash ``final`` holds
    either its old content or all of the new one.
    """
    os.replace(tmp, final)
    fsync_dir(final.parent)


@contextmanager
def replacement_file(path: Path) -> Iterator[int]:
    """A descriptor for a new version of ``path``, swapped in whole when the block ends.

    The new content is staged in ``incoming/rewrites/`` (see ``layout``),
    fsynced, then renamed over ``path``; if the block raises, the staging file
    is removed and ``path`` is untouched. After a crash ``path`` holds either
    its old content or all of the new one.
    """
    tmp = rewrite_temp_path(path)
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        yield out
        os.fsync(out)
        os.close(out)
        out = -1
        replace_atomically(tmp, path)
    except BaseException:
        if out >= 0:
            os.close(out)
        discard(tmp)
        raise


def discard(path: Path) -> None:
    """Remove a file if present."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


async def run_io(
    pool: IOPool,
    action: str,
    path: Path,
    func: Callable[..., T],
    *args: object,
    missing: Exception | None = None,
) -> T:
    """Run ``func(*args)`` in the pool, mapping failures to the project's errors.

    A missing file becomes ``missing`` when given (typically ``ShareNotFound``);
    other ``OSError`` and unreadable containers become ``BackendError``.
    """
    try:
        return await pool.run(func, *args)
    except FileNotFoundError as e:
        if missing is not None:
            raise missing from None
        raise os_error(action, path, e) from None
    except OSError as e:
        raise os_error(action, path, e) from None
    except ContainerFormatError as e:
        raise BackendError(f"disk backend could not {action} {path}: {e}") from None
