"""What a backend's test class says: how to build its backend, and how to reopen it.

Every test class of the kit derives from ``BackendHarness``. A backend's own
test module subclasses ``BackendSuite`` (or some of the mixins) once and
defines ``make_backend``; the harness turns that into the fixtures the tests
use:

- ``backend``: a new backend on empty storage, started before the test and
  stopped after it (once: servers are lent it through ``SharedBackend``);
- ``server``: a ``StorageServer`` over ``backend`` on the ``clock`` fixture;
- ``clock``: a ``twisted.internet.task.Clock`` set to ``START_TIME``.

The fixtures are synchronous and drive coroutines with ``run``:
pytest-twisted's async fixtures break pytest's teardown when a fixture skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import ClassVar

import pytest
from twisted.internet.task import Clock

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.reactor import run
from tahoe_cloud.testing.support import make_server, start_clock

BackendContext = AbstractAsyncContextManager[IStorageBackend]


class BackendUnavailableHere(Exception):
    """This backend cannot be built in this environment: its tests are skipped, with this reason.

    Raise it from ``make_backend`` when an outside service or a module is missing.
    """


class BackendHarness:
    """The hooks a backend's test class fills in, and the fixtures built on them."""

    #: Examples hypothesis tries per stateful or property test: each one builds
    #: a backend, so a slow backend may want fewer, a fast one more.
    model_examples: ClassVar[int] = 20

    def make_backend(self, directory: Path) -> BackendContext:
        """An async context manager that yields a new backend, not yet started.

        :param directory: an empty directory for this backend alone (use it or
            not); each call gets a new one, except ``reopen_backend``'s.
        :raises BackendUnavailableHere: to skip the tests where the backend
            cannot be built (say, its service is not reachable).

        The backend must be empty: use a new bucket, prefix or directory per
        call so tests never see each other's shares. The tests start and stop
        it; on exit the context manager removes what it made, if it wants to.
        """
        raise NotImplementedError(f"{type(self).__name__} must define make_backend(directory)")

    def reopen_backend(self, directory: Path) -> BackendContext | None:
        """A new backend, not yet started, on the storage ``make_backend(directory)`` made.

        The restart tests make a backend, store shares, stop it, then reopen
        the storage with this and check what survived. The default, ``None``,
        says the backend keeps nothing across a restart (an in-memory one):
        those tests are skipped.
        """
        return None

    @pytest.fixture
    def clock(self) -> Clock:
        return start_clock()

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[IStorageBackend]:
        context = self.make_backend(tmp_path)
        try:
            made = run(context.__aenter__())
        except BackendUnavailableHere as e:
            pytest.skip(str(e))
        try:
            run(made.start())
            try:
                yield made
            finally:
                run(made.stop())
        finally:
            run(context.__aexit__(None, None, None))

    @pytest.fixture
    def server(self, backend: IStorageBackend, clock: Clock) -> Iterator[StorageServer]:
        s = make_server(backend, clock)
        run(s.start())
        yield s
        run(s.stop())
