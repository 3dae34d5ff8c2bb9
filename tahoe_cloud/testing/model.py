"""Stateful property test: mutable read-test-write against a plain Python model.

The model is upstream's semantics written as directly as possible: a dict of
share number -> bytearray, plus the slot's write enabler. Random sequences of
read-test-write requests (tests that pass or fail, overlapping writes, holes,
truncations, deletions, wrong write enablers) must give the same answers and
leave the same bytes as the model. ``MutableModelTests`` runs it against the
backend of the test class (each example on a new backend from ``make_backend``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from twisted.internet.task import Clock

from tahoe_cloud.errors import WrongWriteEnabler
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.harness import BackendContext, BackendHarness, BackendUnavailableHere
from tahoe_cloud.testing.reactor import async_test, in_thread, run
from tahoe_cloud.vocabulary import StorageIndex, WriteVector

SI = StorageIndex(b"m" * 16)
WE = b"w" * 32
LEASE = m.LeaseSecrets(renew=b"r" * 32, cancel=b"c" * 32)

offsets = st.integers(0, 24)
sizes = st.integers(0, 12)


def read(buf: bytes | bytearray, offset: int, size: int) -> bytes:
    return bytes(buf[offset : offset + size])


def make_machine(make_backend: Callable[[Path], BackendContext]) -> type[RuleBasedStateMachine]:
    """A state machine whose every run is on a new backend from ``make_backend``."""

    class MutableMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model: dict[int, bytearray] = {}
            self.directory = Path(tempfile.mkdtemp(prefix="tahoe-cloud-stateful-"))
            self.context = make_backend(self.directory)
            self.backend = run(self.context.__aenter__())
            run(self.backend.start())
            self.server = StorageServer(self.backend, nodeid=b"n" * 20, clock=Clock())

        def teardown(self) -> None:
            try:
                run(self.server.stop())
                run(self.context.__aexit__(None, None, None))
            finally:
                shutil.rmtree(self.directory, ignore_errors=True)

        @initialize()
        def nothing_yet(self) -> None:
            assert run(self.server.list_mutable_shares(SI)) == frozenset()

        def _test_vector(self, data: st.DataObject, shnum: int) -> m.TestVector:
            offset, size = data.draw(offsets), data.draw(sizes)
            if data.draw(st.booleans()):
                specimen = read(self.model.get(shnum, b""), offset, size)  # passes
            else:
                specimen = data.draw(st.binary(max_size=4))  # usually fails
            return m.TestVector(offset, size, specimen)

        @rule(data=st.data())
        def read_test_write(self, data: st.DataObject) -> None:
            shnums = data.draw(st.sets(st.integers(0, 3), max_size=3))
            vectors = {}
            for shnum in sorted(shnums):
                tests = tuple(
                    self._test_vector(data, shnum) for _ in range(data.draw(st.integers(0, 2)))
                )
                writes = tuple(
                    WriteVector(o, d)
                    for o, d in data.draw(
                        st.lists(st.tuples(offsets, st.binary(max_size=10)), max_size=3)
                    )
                )
                new_length = data.draw(st.none() | st.just(0) | st.integers(0, 40))
                vectors[shnum] = m.TestWriteVectors(tests, writes, new_length)
            reads = [
                m.ReadVector(o, s)
                for o, s in data.draw(st.lists(st.tuples(offsets, sizes), max_size=3))
            ]
            result = run(
                self.server.read_test_write(
                    SI, write_enabler=WE, lease=LEASE, vectors=vectors, read_vector=reads
                )
            )
            expected_reads = {
                n: [read(buf, rv.offset, rv.size) for rv in reads] for n, buf in self.model.items()
            }
            success = all(
                read(self.model.get(n, b""), tv.offset, tv.size) == tv.specimen
                for n, twv in vectors.items()
                for tv in twv.tests
            )
            assert result.success is success
            assert {n: list(v) for n, v in result.data.items()} == expected_reads
            if success:
                self._apply(vectors)

        def _apply(self, vectors: dict[int, m.TestWriteVectors]) -> None:
            for shnum, twv in sorted(vectors.items()):
                if twv.new_length == 0:
                    self.model.pop(shnum, None)
                    continue
                buf = self.model.setdefault(shnum, bytearray())
                for wv in twv.writes:
                    if wv.offset > len(buf):
                        buf.extend(bytes(wv.offset - len(buf)))
                    buf[wv.offset : wv.offset + len(wv.data)] = wv.data
                if twv.new_length is not None and twv.new_length < len(buf):
                    del buf[twv.new_length :]

        @precondition(lambda self: bool(self.model))
        @rule(shnum=st.integers(0, 3), payload=st.binary(min_size=1, max_size=4))
        def wrong_write_enabler(self, shnum: int, payload: bytes) -> None:
            vectors = {shnum: m.TestWriteVectors(writes=(WriteVector(0, payload),))}
            with pytest.raises(WrongWriteEnabler):
                run(
                    self.server.read_test_write(
                        SI, write_enabler=b"x" * 32, lease=LEASE, vectors=vectors, read_vector=[]
                    )
                )

        @invariant()
        def same_bytes_as_model(self) -> None:
            assert run(self.server.list_mutable_shares(SI)) == set(self.model)
            for shnum, buf in self.model.items():
                assert run(self.server.read_mutable(SI, shnum, 0, 1000)) == bytes(buf)

    return MutableMachine


class MutableModelTests(BackendHarness):
    """The stateful model of read-test-write, run on the backend of the test class.

    ``model_examples`` sets how many runs hypothesis tries (each on a new backend).
    """

    @async_test
    async def test_read_test_write_matches_model(self) -> None:
        machine = make_machine(self.make_backend)
        probe = self.make_backend(Path(tempfile.mkdtemp(prefix="tahoe-cloud-probe-")))
        try:
            await probe.__aenter__()
        except BackendUnavailableHere as e:
            pytest.skip(str(e))
        await probe.__aexit__(None, None, None)
        await in_thread(
            lambda: run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=self.model_examples,
                    stateful_step_count=15,
                    deadline=None,
                ),
            )
        )
