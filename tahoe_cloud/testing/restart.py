"""What a backend keeps across a restart: shares, leases, and no unfinished upload.

These tests build a backend with ``make_backend``, store shares through a
server, stop the backend without the server's orderly stop (as a crash
would leave it), reopen the same storage with ``reopen_backend`` and check
what a new server sees. A backend that keeps nothing across a restart
leaves ``reopen_backend`` as ``None`` and these tests are skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.harness import BackendContext, BackendHarness, BackendUnavailableHere
from tahoe_cloud.testing.reactor import async_test
from tahoe_cloud.testing.support import (
    lease_secrets,
    make_server,
    new_si,
    upload_secret,
    upload_share,
    write_enabler,
)
from tahoe_cloud.vocabulary import WriteVector


@asynccontextmanager
async def serving(context: BackendContext, clock: Clock) -> AsyncIterator[StorageServer]:
    """A server over the started backend of ``context``; the backend is stopped on exit.

    The server itself is not stopped: what it had in progress stays as a
    crash would leave it.
    """
    try:
        backend: IStorageBackend = await context.__aenter__()
    except BackendUnavailableHere as e:
        pytest.skip(str(e))
    try:
        await backend.start()
        try:
            server = make_server(backend, clock)
            await server.start()
            yield server
        finally:
            await backend.stop()
    finally:
        await context.__aexit__(None, None, None)


class RestartTests(BackendHarness):
    """Shares and leases survive a restart; an upload cut short by one does not."""

    def _reopened(self, directory: Path) -> BackendContext:
        context = self.reopen_backend(directory)
        if context is None:
            pytest.skip(f"{type(self).__name__} keeps nothing across a restart (no reopen_backend)")
        return context

    @async_test
    async def test_shares_and_leases_survive_a_restart(self, tmp_path: Path, clock: Clock) -> None:
        si, msi, data, lease = new_si(), new_si(), os.urandom(5000), lease_secrets()
        writes = m.TestWriteVectors(writes=(WriteVector(0, b"mutable bytes"),))
        async with serving(self.make_backend(tmp_path), clock) as server:
            await upload_share(server, si, 3, data, lease=lease)
            await server.read_test_write(
                msi, write_enabler=write_enabler(), lease=lease, vectors={1: writes}, read_vector=[]
            )
            leases_before = await server.get_leases(si)
        async with serving(self._reopened(tmp_path), clock) as server:
            assert await server.list_immutable_shares(si) == {3}
            assert await server.read_immutable(si, 3, 0, 10_000) == data
            assert await server.list_mutable_shares(msi) == {1}
            assert await server.read_mutable(msi, 1, 0, 100) == b"mutable bytes"
            leases = await server.get_leases(si)
            assert [(x.owner_num, x.expiration) for x in leases[3]] == [
                (x.owner_num, x.expiration) for x in leases_before[3]
            ]
            assert leases[3][0].renew_secret_matches(lease.renew)
            assert leases[3][0].cancel_secret_matches(lease.cancel)

    @async_test
    async def test_unfinished_upload_is_gone_after_a_restart(
        self, tmp_path: Path, clock: Clock
    ) -> None:
        si, secret = new_si(), upload_secret()
        async with serving(self.make_backend(tmp_path), clock) as server:
            await upload_share(server, si, 0, b"complete")
            await server.allocate_buckets(
                si,
                lease=lease_secrets(),
                upload_secret=secret,
                share_numbers=frozenset({1}),
                allocated_size=100,
            )
            await server.write_immutable(si, 1, upload_secret=secret, offset=0, data=b"x" * 50)
        async with serving(self._reopened(tmp_path), clock) as server:
            assert await server.list_immutable_shares(si) == {0}
            again = await server.allocate_buckets(
                si,
                lease=lease_secrets(),
                upload_secret=upload_secret(),
                share_numbers=frozenset({0, 1}),
                allocated_size=100,
            )
            assert again.already_have == {0}
            assert again.allocated == {1}
