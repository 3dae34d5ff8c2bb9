"""Collect what is logged as an error while a test runs (unhandled errors included).

Twisted reports an exception nobody handled ("Unhandled Error", an errback
left on a Deferred that is collected) as a logged failure, not by raising:
a test that only checks results cannot see it. ``logged_errors`` makes it
visible; ``gc.collect`` at the end flushes Deferreds dropped with a failure.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from zope.interface import provider

_SERIOUS = (LogLevel.error, LogLevel.critical)


def describe(event: LogEvent) -> str:
    text = formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        text += "\n" + failure.getTraceback()
    return text


@contextmanager
def logged_errors() -> Iterator[list[LogEvent]]:
    """Yield the list of error/critical events (and failures) logged inside the block."""
    seen: list[LogEvent] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("log_failure") is not None or event.get("log_level") in _SERIOUS:
            seen.append(event)
        elif event.get("isError"):  # twisted.python.log.err, legacy style
            seen.append(event)

    gc.collect()  # what earlier code dropped is reported now, outside the block
    globalLogPublisher.addObserver(observe)
    try:
        yield seen
        gc.collect()
    finally:
        globalLogPublisher.removeObserver(observe)
