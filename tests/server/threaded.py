"""Running synchronous hypothesis tests against the reactor.

pytest-twisted runs test functions in the reactor's greenlet, where ``blockon``
is refused, and a real backend (the disk backend's thread pool) needs the
reactor running while the test waits. So a property test runs in a worker
thread (``in_thread``), and each coroutine step is handed to the reactor
thread and waited for there (``run``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """From the worker thread: run ``coroutine`` in the reactor thread and wait for it."""
    result: T = threads.blockingCallFromThread(reactor, lambda: Deferred.fromCoroutine(coroutine))  # type: ignore[arg-type]
    return result


async def in_thread(test: Callable[[], None]) -> None:
    """From an async test: run the synchronous ``test`` in a worker thread."""
    await threads.deferToThread(test)
