"""Run one coroutine on the global reactor and return its result (for one-shot commands).

``check``, ``create-container`` and ``clean`` talk to the backend through Twisted, so
they run the reactor once, like ``run`` does, and stop it when done.
Exceptions come back out of ``call`` so ``main`` reports them as one line.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import ensureDeferred
from twisted.python.failure import Failure

_T = TypeVar("_T")


def call(work: Callable[[Any], Coroutine[Any, Any, _T]]) -> _T:
    """``work(reactor)`` run to completion on the global reactor (which cannot run again)."""
    from twisted.internet import reactor

    outcome: list[_T | Failure] = []

    def done(result: _T | Failure) -> None:
        outcome.append(result)
        reactor.stop()

    def begin() -> None:
        ensureDeferred(work(reactor)).addBoth(done)

    reactor.callWhenRunning(begin)
    reactor.run()
    [result] = outcome
    if isinstance(result, Failure):
        result.raiseException()
    return result
