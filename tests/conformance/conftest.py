"""Fixtures of the conformance suite: every test runs once per backend in ``MAKERS``.

``backend`` is started once and stopped once per test; servers are built over
it with ``support.make_server`` (which lends it through ``SharedBackend``).

The fixtures are synchronous and drive coroutines with ``pytest_twisted.blockon``:
pytest-twisted's async fixtures break pytest's teardown when a fixture skips.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.server.server import StorageServer
from tests.conformance.backends import MAKERS, MARKS, BackendUnavailableHere
from tests.conformance.support import START_TIME, make_server

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    result: T = pytest_twisted.blockon(Deferred.fromCoroutine(coroutine))
    return result


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.advance(START_TIME)
    return c


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, ())) for name in sorted(MAKERS)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IStorageBackend]:
    context = MAKERS[request.param](tmp_path)
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
def server(backend: IStorageBackend, clock: Clock) -> Iterator[StorageServer]:
    s = make_server(backend, clock)
    run(s.start())
    yield s
    run(s.stop())
