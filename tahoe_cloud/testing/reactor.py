"""Waiting for coroutines from synchronous test code, on the Twisted reactor.

pytest-twisted runs the reactor in a greenlet of the main thread. A fixture or
a synchronous test waits with ``pytest_twisted.blockon``; a hypothesis test
runs in a worker thread (``in_thread``: pytest-twisted refuses ``blockon``
inside the reactor's greenlet, and a real backend's thread pool needs the
reactor running while the test waits) and hands each step to the reactor
thread. ``run`` does whichever of the two its caller needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import pytest_twisted
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def async_test(test: F) -> F:
    """Mark an ``async def`` test to run on the reactor (``pytest_twisted.ensureDeferred``)."""
    return cast(F, pytest_twisted.ensureDeferred(test))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the reactor and return its result (or raise its exception).

    From the main thread, where pytest-twisted runs the reactor (a fixture, a
    synchronous test), this waits with ``pytest_twisted.blockon``; from a
    worker thread (see ``in_thread``) it hands the coroutine to the reactor
    thread and waits for it there.
    """
    if threading.current_thread() is threading.main_thread():
        result: T = pytest_twisted.blockon(Deferred.fromCoroutine(coroutine))
        return result

    def start() -> Deferred[Any]:
        return Deferred.fromCoroutine(coroutine)

    return cast(T, threads.blockingCallFromThread(cast(IReactorFromThreads, reactor), start))


async def in_thread(test: Callable[[], None]) -> None:
    """From an async test: run the synchronous ``test`` in a worker thread."""
    await threads.deferToThread(test)
