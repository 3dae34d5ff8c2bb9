"""Where a running node's log goes: stdout and ``NODEDIR/logs/tahoe-cloud.log``.

Everything goes through ``twisted.logger``. Events are written as one text
line each (time, namespace, message), at ``[logging] level`` and above
(``info`` by default). The code
that emits events is responsible for never including a secret: no swissnum,
lease or upload secret, write enabler, Authorization header or S3 credential.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, cast

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEventAsClassicLogText,
    formatTime,
    globalLogBeginner,
    timeFormatRFC3339,
)
from twisted.python.logfile import LogFile

LOG_FILENAME = "tahoe-cloud.log"


def log_file_path(nodedir: Path) -> Path:
    return nodedir / "logs" / LOG_FILENAME


def _at_least(observer: ILogObserver, level: LogLevel) -> ILogObserver:
    return FilteringLogObserver(observer, [LogLevelFilterPredicate(defaultLogLevel=level)])


def shared_text_format() -> Callable[[dict[str, Any]], str | None]:
    """Twisted's classic text line for an event, formatted once for all observers using it.

    Every request logs a line to stdout and to the log file; formatting it
    separately for each (time zone, system, message) was a tenth of the
    server's Python time for small requests (py-spy, benchmarks). The last
    event's text is kept as one tuple, replaced atomically, so observers
    called from other threads never get another event's line.
    """
    last: list[tuple[object, str | None]] = [(None, None)]

    def format_event(event: dict[str, Any]) -> str | None:
        cached_event, cached_text = last[0]
        if cached_event is event:
            return cached_text
        text = formatEventAsClassicLogText(
            event, formatTime=lambda when: formatTime(when, timeFormatRFC3339)
        )
        last[0] = (event, text)
        return text

    return format_event


# Rotate like a long-running daemon should: 10 MB files, the 5 newest kept.
ROTATE_BYTES = 10_000_000
ROTATED_FILES_KEPT = 5


def observers_for(
    nodedir: Path, stdout: IO[str], level: LogLevel = LogLevel.info
) -> tuple[list[ILogObserver], IO[str]]:
    """Observers writing to ``stdout`` and to the node's rotated log file (created 0644)."""
    path = log_file_path(nodedir)
    path.parent.mkdir(parents=True, exist_ok=True)
    log_file = LogFile(  # type: ignore[no-untyped-call]  # Twisted leaves it untyped
        path.name,
        str(path.parent),
        rotateLength=ROTATE_BYTES,
        defaultMode=0o644,
        maxRotatedFiles=ROTATED_FILES_KEPT,
    )
    text = shared_text_format()
    observers = [
        _at_least(FileLogObserver(stdout, text), level),
        _at_least(FileLogObserver(cast(IO[str], log_file), text), level),
    ]
    return observers, cast(IO[str], log_file)


def start_logging(
    nodedir: Path, stdout: IO[str] | None = None, level: LogLevel = LogLevel.info
) -> IO[str]:
    """Send the global log (``level`` and above) to stdout and the node's log file.

    Returns the open log file. Called once per process, before the reactor
    runs. Standard output is not redirected into the log: the NURL printed at
    start stays a plain line.
    """
    out = stdout if stdout is not None else sys.stdout
    observers, log_file = observers_for(nodedir, out, level)
    begin(observers)
    return log_file


def begin(observers: Iterable[ILogObserver]) -> None:
    globalLogBeginner.beginLoggingTo(list(observers), redirectStandardIO=False)
