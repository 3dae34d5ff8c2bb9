"""Stateful test of lease expiry against a plain model, on the memory and the disk backend.

The model keeps, per share, its kind and each lease's expiration by renew
secret. Random interleavings of uploads (left in progress or finished), lease
renewals, mutable writes, clock advances and ``examine`` steps must leave
exactly the shares and leases the model says: a share with an unexpired lease
is never deleted, a busy storage index is never touched. A sweep past every
expiration then leaves no share of a selected kind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
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

from tahoe_cloud.backends.disk import DiskBackend
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.errors import NoSharesForStorageIndex
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.expiry import LeaseChecker
from tahoe_cloud.server.expiry_policy import ExpiryPolicy
from tahoe_cloud.server.lease_policy import DEFAULT_LEASE_DURATION
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import async_test, in_thread, run
from tahoe_cloud.testing.support import DAY, NODEID, START_TIME
from tahoe_cloud.vocabulary import ShareKind, StorageIndex, WriteVector

D = DEFAULT_LEASE_DURATION
IMMUTABLE_SIS = [StorageIndex(b"i" * 16)]
MUTABLE_SIS = [StorageIndex(b"m" * 16)]
ALL_SIS = IMMUTABLE_SIS + MUTABLE_SIS
WE = b"w" * 32
DATA = b"share data"

sis_imm = st.sampled_from(IMMUTABLE_SIS)
sis_mut = st.sampled_from(MUTABLE_SIS)
shnums = st.integers(0, 1)
secrets = st.integers(0, 1)

Maker = Callable[[Path], AbstractAsyncContextManager[IStorageBackend]]


def lease_secrets(n: int) -> m.LeaseSecrets:
    return m.LeaseSecrets(renew=bytes([n + 1]) * 32, cancel=bytes([n + 101]) * 32)


def upload_secret(si: StorageIndex, shnum: int) -> bytes:
    return si.raw[:1] * 19 + bytes([shnum])


@asynccontextmanager
async def memory(directory: Path) -> AsyncIterator[IStorageBackend]:
    yield MemoryBackend()


@asynccontextmanager
async def disk(directory: Path) -> AsyncIterator[IStorageBackend]:
    yield DiskBackend(storage_dir=directory / "storage")


def make_machine(maker: Maker) -> type[RuleBasedStateMachine]:
    class ExpiryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.directory = Path(tempfile.mkdtemp(prefix="tahoe-cloud-expiry-"))
            self.context = maker(self.directory)
            self.backend = run(self.context.__aenter__())
            run(self.backend.start())
            self.clock = Clock()
            self.clock.advance(START_TIME)
            self.server = StorageServer(
                self.backend, nodeid=NODEID, clock=self.clock, upload_timeout=10**10
            )
            #: (si, shnum) -> (kind, renew secret number -> expiration)
            self.shares: dict[tuple[StorageIndex, int], tuple[ShareKind, dict[int, int]]] = {}
            #: uploads in progress: (si, shnum) -> renew secret number
            self.pending: dict[tuple[StorageIndex, int], int] = {}
            self.policy = ExpiryPolicy()

        def teardown(self) -> None:
            try:
                run(self.server.stop())
                run(self.backend.stop())
                run(self.context.__aexit__(None, None, None))
            finally:
                shutil.rmtree(self.directory, ignore_errors=True)

        @initialize(
            override=st.sampled_from([None, None, DAY, 10 * DAY, 40 * DAY]),
            immutable=st.booleans(),
            mutable=st.booleans(),
        )
        def choose_policy(self, override: int | None, immutable: bool, mutable: bool) -> None:
            self.policy = ExpiryPolicy(
                enabled=True,
                mode="age",
                override_lease_duration=override,
                immutable=immutable,
                mutable=mutable,
            )

        # --- the model's rules, written out without the policy -------------

        @property
        def now(self) -> int:
            return int(self.clock.seconds())

        def expired(self, expiration: int) -> bool:
            override = self.policy.override_lease_duration
            if override is None:
                return self.now > expiration
            return self.now - (expiration - D) > override

        def selected(self, kind: ShareKind) -> bool:
            return self.policy.immutable if kind is ShareKind.IMMUTABLE else self.policy.mutable

        def renew(self, key: tuple[StorageIndex, int], secret: int) -> None:
            leases = self.shares[key][1]
            leases[secret] = max(leases.get(secret, 0), self.now + D)

        def of(self, si: StorageIndex) -> list[tuple[StorageIndex, int]]:
            return [key for key in self.shares if key[0] == si]

        # --- operations ---------------------------------------------------------

        @rule(si=sis_imm, shnum=shnums, secret=secrets)
        def upload(self, si: StorageIndex, shnum: int, secret: int) -> None:
            """A whole upload: allocate, then write every byte at once."""
            self.start_upload(si, shnum, secret)
            if (si, shnum) in self.pending:
                self.finish(si, shnum)

        @precondition(lambda self: len(self.pending) < 3)
        @rule(si=sis_imm, shnum=shnums, secret=secrets)
        def start_upload(self, si: StorageIndex, shnum: int, secret: int) -> None:
            result = run(
                self.server.allocate_buckets(
                    si,
                    lease=lease_secrets(secret),
                    upload_secret=upload_secret(si, shnum),
                    share_numbers=frozenset({shnum}),
                    allocated_size=len(DATA),
                )
            )
            for key in self.of(si):
                self.renew(key, secret)  # allocate renews the client's lease on what is held
            new = (si, shnum) not in self.shares and (si, shnum) not in self.pending
            assert result.allocated == (frozenset({shnum}) if new else frozenset())
            if new:
                self.pending[si, shnum] = secret

        @precondition(lambda self: bool(self.pending))
        @rule(data=st.data())
        def finish_upload(self, data: st.DataObject) -> None:
            si, shnum = data.draw(st.sampled_from(sorted(self.pending, key=repr)))
            self.finish(si, shnum)

        def finish(self, si: StorageIndex, shnum: int) -> None:
            secret = self.pending.pop((si, shnum))
            written = run(
                self.server.write_immutable(
                    si, shnum, upload_secret=upload_secret(si, shnum), offset=0, data=DATA
                )
            )
            assert written.complete
            self.shares[si, shnum] = (ShareKind.IMMUTABLE, {secret: self.now + D})

        @rule(si=st.sampled_from(ALL_SIS), secret=secrets)
        def renew_lease(self, si: StorageIndex, secret: int) -> None:
            if not self.of(si):
                with pytest.raises(NoSharesForStorageIndex):
                    run(self.server.add_or_renew_lease(si, lease_secrets(secret)))
                return
            run(self.server.add_or_renew_lease(si, lease_secrets(secret)))
            for key in self.of(si):
                self.renew(key, secret)

        @rule(si=sis_mut, shnum=shnums, secret=secrets, payload=st.binary(min_size=1, max_size=8))
        def mutable_write(self, si: StorageIndex, shnum: int, secret: int, payload: bytes) -> None:
            result = run(
                self.server.read_test_write(
                    si,
                    write_enabler=WE,
                    lease=lease_secrets(secret),
                    vectors={shnum: m.TestWriteVectors(writes=(WriteVector(0, payload),))},
                    read_vector=[],
                )
            )
            assert result.success
            self.shares.setdefault((si, shnum), (ShareKind.MUTABLE, {}))
            self.renew((si, shnum), secret)

        @rule(seconds=st.sampled_from([1, DAY, 11 * DAY, 20 * DAY, 32 * DAY]))
        def advance(self, seconds: int) -> None:
            self.clock.advance(seconds)
            for si in ALL_SIS:
                self.examine(si)  # as the checker's cycle would

        @rule(si=st.sampled_from(ALL_SIS))
        def examine(self, si: StorageIndex) -> None:
            report = run(LeaseChecker.for_server(self.server, self.policy).examine(si))
            busy = any(key[0] == si for key in self.pending)
            assert report.skipped_busy is busy
            if busy:
                return
            for key in self.of(si):
                kind, leases = self.shares[key]
                if not self.selected(kind):
                    continue
                for secret, expiration in list(leases.items()):
                    if self.expired(expiration):
                        del leases[secret]
                if not leases:
                    del self.shares[key]

        @rule()
        def sweep(self) -> None:
            """Finish every upload, pass every expiration, examine every index."""
            for si, shnum in sorted(self.pending, key=repr):
                run(
                    self.server.write_immutable(
                        si, shnum, upload_secret=upload_secret(si, shnum), offset=0, data=DATA
                    )
                )
                self.shares[si, shnum] = (
                    ShareKind.IMMUTABLE,
                    {self.pending[si, shnum]: self.now + D},
                )
            self.pending.clear()
            latest = max(
                (e for _, leases in self.shares.values() for e in leases.values()), default=0
            )
            override = self.policy.override_lease_duration or 0
            self.clock.advance(max(0, latest - self.now) + override + 1)
            for si in ALL_SIS:
                report = run(LeaseChecker.for_server(self.server, self.policy).examine(si))
                assert not report.skipped_busy
            self.shares = {
                key: (kind, leases)
                for key, (kind, leases) in self.shares.items()
                if not self.selected(kind)
            }

        @invariant()
        def same_shares_and_leases_as_model(self) -> None:
            for si in ALL_SIS:
                leases = run(self.server.get_leases(si))
                expected = {
                    shnum: sorted(self.shares[si, shnum][1].values())
                    for (s, shnum) in self.shares
                    if s == si
                }
                got = {n: sorted(lease.expiration for lease in ls) for n, ls in leases.items()}
                assert got == expected

    return ExpiryMachine


@pytest.mark.parametrize(("maker", "examples"), [(memory, 100), (disk, 15)], ids=["memory", "disk"])
@async_test
async def test_expiry_matches_model(maker: Maker, examples: int) -> None:
    machine = make_machine(maker)
    await in_thread(
        lambda: run_state_machine_as_test(
            machine,
            settings=settings(max_examples=examples, stateful_step_count=40, deadline=None),
        )
    )
