"""The lease checker's cycles: every storage index, examined over and over, paced, resumable.

``ExpiryCycleRunner`` walks every storage index of a backend providing
``IShareEnumeration`` and calls ``LeaseChecker.examine`` for each, summing
the reports in a ``CycleReport``. In this version it is REPORT-ONLY whatever
``expire.enabled`` says: it runs a copy of the configured policy with
``enabled=False``, so it counts what would be reclaimed and never deletes
or changes a share or a lease.

Timing (all on the injected ``IReactorTime``, so tests drive it with
``twisted.internet.task.Clock``):

- the first cycle starts ``initial_delay`` seconds after ``start()``
  (default 5 minutes), so start-up is not slowed down;
- a cycle starts at least ``minimum_cycle_time`` seconds after the start of
  the one before (default 12 hours, as upstream's);
- pacing: after each storage index the runner sleeps so that it works at
  most ``duty_cycle`` of the time (default 0.5): a slice of work that took
  ``t`` seconds is followed by a sleep of ``t * (1 - duty_cycle) / duty_cycle``
  seconds (``t`` with the default), and always by a return to the reactor,
  so serving is never starved.

Progress is persisted in a JSON state file, written atomically (a temporary
file, fsync, rename) after every batch of the enumeration, at least every
``save_interval`` seconds (default 5) and when the runner stops::

    {"version": 1,
     "current": <CycleReport.to_dict() of the cycle in progress, or null>,
     "last_storage_index": <text of the last storage index examined in it, or null>,
     "history": [<CycleReport.to_dict() of the last completed cycles, oldest first>]}

``history`` keeps the last ``HISTORY`` (10) cycles. A new runner loads the
file and resumes the cycle in progress after ``last_storage_index`` (the
enumeration's order makes that exactly the rest of the cycle); a missing
file starts afresh, and a corrupt or unreadable one is logged and the cycle
starts over: the state file never stops a node.

A failure of the backend (listing or examining) is logged; the cycle is
resumed from the last saved point ``retry_delay`` seconds later.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from tahoe_cloud.backends.capabilities import IShareEnumeration
from tahoe_cloud.server.expiry import LeaseChecker
from tahoe_cloud.server.expiry_policy import ExpiryPolicy
from tahoe_cloud.server.expiry_report import CycleReport
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import StorageIndex

_log = Logger(namespace="tahoe_cloud.server.expiry_cycle")

STATE_VERSION = 1
#: Completed cycles kept in the state file.
HISTORY = 10
DEFAULT_MINIMUM_CYCLE_TIME = 12 * 60 * 60
DEFAULT_INITIAL_DELAY = 5 * 60
DEFAULT_DUTY_CYCLE = 0.5
DEFAULT_SAVE_INTERVAL = 5.0
DEFAULT_RETRY_DELAY = 5 * 60


class _Stopped(Exception):
    """The runner was asked to stop."""


@attrs.define
class CycleState:
    """What the state file holds (see the module doc)."""

    current: CycleReport | None = None
    last_storage_index: StorageIndex | None = None
    history: list[CycleReport] = attrs.field(factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "current": None if self.current is None else self.current.to_dict(),
            "last_storage_index": (
                None if self.last_storage_index is None else self.last_storage_index.text
            ),
            "history": [report.to_dict() for report in self.history],
        }

    @classmethod
    def from_dict(cls, data: Any) -> CycleState:
        """Inverse of ``to_dict``; ``KeyError``/``ValueError``/``TypeError`` on a malformed one."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("not a version 1 lease checker state")
        current = None if data["current"] is None else CycleReport.from_dict(data["current"])
        last = data["last_storage_index"]
        if last is not None and not isinstance(last, str):
            raise TypeError("last_storage_index is not text")
        if current is None and last is not None:
            raise ValueError("a last storage index without a cycle in progress")
        return cls(
            current=current,
            last_storage_index=None if last is None else StorageIndex.from_text(last),
            history=[CycleReport.from_dict(report) for report in data["history"]][-HISTORY:],
        )


def load_state(path: Path) -> CycleState:
    """The state saved at ``path``: a fresh one if missing, or (logged) if unreadable or corrupt."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CycleState()
    except (OSError, UnicodeDecodeError) as e:
        _log.error(
            "lease checker state {path} cannot be read ({error}); starting the cycle over",
            path=str(path),
            error=str(e),
        )
        return CycleState()
    try:
        return CycleState.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        _log.error(
            "lease checker state {path} is corrupt ({error}); starting the cycle over",
            path=str(path),
            error=f"{e.__class__.__name__}: {e}",
        )
        return CycleState()


def encode_state(state: CycleState) -> bytes:
    """The state file's bytes: taken on the reactor thread, since the state keeps changing."""
    return json.dumps(state.to_dict(), indent=1, sort_keys=True).encode("utf-8")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file, fsync, rename, directory fsync."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:
        dirfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dirfd)
    except OSError:
        pass
    finally:
        os.close(dirfd)


def save_state(path: Path, state: CycleState) -> None:
    """Write ``state`` to ``path`` atomically (blocking: off the reactor thread in the runner)."""
    write_atomically(path, encode_state(state))


class ExpiryCycleRunner:
    """Runs report-only lease-checker cycles over a server's shares (module doc).

    :param server: the running ``StorageServer`` (its locks and busy test are used).
    :param enumeration: the backend as an ``IShareEnumeration`` (the server's backend).
    :param policy: the configured policy; a copy with ``enabled=False`` is run.
    :param state_path: the JSON state file.
    :param clock: schedules the delays, the pacing and the reports' times.
    :param duty_cycle: the largest share of time spent working, in (0, 1]; 0.5 by default.
    """

    def __init__(
        self,
        server: StorageServer,
        enumeration: IShareEnumeration,
        policy: ExpiryPolicy,
        state_path: Path,
        clock: IReactorTime,
        *,
        initial_delay: float = DEFAULT_INITIAL_DELAY,
        minimum_cycle_time: float = DEFAULT_MINIMUM_CYCLE_TIME,
        duty_cycle: float = DEFAULT_DUTY_CYCLE,
        save_interval: float = DEFAULT_SAVE_INTERVAL,
        retry_delay: float = DEFAULT_RETRY_DELAY,
    ) -> None:
        if not 0 < duty_cycle <= 1:
            raise ValueError("duty_cycle must be in (0, 1]")
        self.policy = attrs.evolve(policy, enabled=False)  # report only, whatever is configured
        self._checker = LeaseChecker.for_server(server, self.policy)
        self._enumeration = enumeration
        self.state_path = state_path
        self._clock = clock
        self._initial_delay = initial_delay
        self._minimum_cycle_time = minimum_cycle_time
        self._duty_cycle = duty_cycle
        self._save_interval = save_interval
        self._retry_delay = retry_delay
        self.state = load_state(state_path)
        self._running: Deferred[None] | None = None
        self._sleeping: Deferred[None] | None = None
        self._stopping = False
        self._last_save = 0.0

    @property
    def cycles_completed(self) -> list[CycleReport]:
        return list(self.state.history)

    def start(self) -> None:
        """Start the cycles in the background (the first after ``initial_delay``)."""
        if self._running is not None:
            return
        self._stopping = False
        self._running = Deferred.fromCoroutine(self._run())

    async def stop(self) -> None:
        """Stop: a storage index being examined is finished, then the state is saved."""
        running, self._running = self._running, None
        if running is None:
            return
        self._stopping = True
        if self._sleeping is not None:
            self._sleeping.cancel()
        await running
        await self._save()

    async def _sleep(self, seconds: float) -> None:
        if self._stopping:
            raise _Stopped()
        self._sleeping = deferLater(self._clock, max(0.0, seconds), lambda: None)
        try:
            await self._sleeping
        except CancelledError:
            raise _Stopped() from None
        finally:
            self._sleeping = None
        if self._stopping:
            raise _Stopped()

    async def _run(self) -> None:
        try:
            await self._sleep(self._initial_delay)
            while True:
                try:
                    await self.run_cycle()
                except _Stopped:
                    raise
                except Exception:  # noqa: BLE001 - logged; the next attempt resumes
                    _log.failure("lease checker cycle failed; resuming it later")
                    await self._save()
                    await self._sleep(self._retry_delay)
                    continue
                last = self.state.history[-1]
                assert last.started is not None
                await self._sleep(last.started + self._minimum_cycle_time - self._clock.seconds())
        except _Stopped:
            pass

    async def run_cycle(self) -> CycleReport:
        """Run (or resume) one cycle to its end, paced; return its report, also kept in history."""
        state = self.state
        if state.current is None:
            state.current = CycleReport(started=self._clock.seconds(), report_only=True)
            state.last_storage_index = None
            _log.info("lease checker cycle started (report only: nothing is deleted)")
        else:
            _log.info(
                "lease checker cycle resumed after {si}",
                si=None if state.last_storage_index is None else state.last_storage_index.text,
            )
        await self._save()
        walk = self._enumeration.storage_indexes(state.last_storage_index)
        try:
            async for batch in walk:
                for stored in batch:
                    began = self._clock.seconds()
                    report = await self._checker.examine(stored.storage_index)
                    state.current.add(report)
                    state.last_storage_index = stored.storage_index
                    if self._clock.seconds() - self._last_save >= self._save_interval:
                        await self._save()
                    elapsed = self._clock.seconds() - began
                    await self._sleep(elapsed * (1 - self._duty_cycle) / self._duty_cycle)
                await self._save()
        finally:
            # Closed at once when stopped or failed midway, so a backend's walk ends cleanly.
            aclose = getattr(walk, "aclose", None)
            if aclose is not None:
                await aclose()
        done = state.current
        done.finished = self._clock.seconds()
        state.history = [*state.history, done][-HISTORY:]
        state.current = None
        state.last_storage_index = None
        await self._save()
        _log.info(
            "lease checker cycle finished: {examined} storage indexes examined,"
            " {skipped} skipped busy (report only: nothing was deleted)",
            examined=done.storage_indexes_examined,
            skipped=done.storage_indexes_skipped_busy,
        )
        return done

    async def _save(self) -> None:
        """Save the state; the write and its fsyncs run in a thread, never on the reactor."""
        self._last_save = self._clock.seconds()
        data = encode_state(self.state)
        try:
            await deferToThread(write_atomically, self.state_path, data)
        except OSError as e:
            _log.error(
                "cannot save the lease checker state to {path}: {error}",
                path=str(self.state_path),
                error=str(e),
            )
