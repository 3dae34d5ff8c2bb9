"""Print the S3 requests each storage operation costs, counted at a recording proxy.

Run: .venv/bin/python -m benchmarks.s3_requests
Starts moto_server, puts the recording proxy in front, runs each operation
through ``StorageServer`` on the cloud.s3 backend (default settings) and
prints one line per operation. docs/s3.md quotes its output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, task
from twisted.internet.task import Clock

from tahoe_cloud.server import messages as m
from tahoe_cloud.server.messages import ReadVector
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import NODEID, START_TIME, lease_secrets, new_si
from tahoe_cloud.vocabulary import ShareKind, WriteVector
from tests.s3.makers import make_backend
from tests.s3.moto import run_moto
from tests.s3.proxy import FaultProxy, start_proxy
from tests.support.s3 import make_client, new_bucket_name

MiB = 1024 * 1024


async def measure(proxy: FaultProxy, label: str, action: Callable[[], Awaitable[Any]]) -> None:
    proxy.clear()
    await action()
    counts = proxy.counts()
    text = ", ".join(f"{n} {op}" for op, n in sorted(counts.items())) or "none"
    print(f"| {label} | {sum(counts.values())} | {text} |")


async def main(reactor: Any) -> None:
    with run_moto() as moto:
        bucket = new_bucket_name()
        setup = make_client(moto, bucket)
        await setup.create_bucket()
        proxy, url = start_proxy(moto.url)
        clock = Clock()
        clock.advance(START_TIME)
        backend = make_backend(make_client(moto, bucket, url=url), Path(tempfile.mkdtemp()))
        server = StorageServer(backend, nodeid=NODEID, clock=clock)
        print("| operation | requests | of which |\n|---|---|---|")
        await measure(proxy, "start (first time: marker created)", server.start)
        si, secret, lease = new_si(), os.urandom(20), lease_secrets()
        big = os.urandom(100 * MiB)
        small = os.urandom(MiB)
        small_size = len(small)

        async def allocate(si=si, size=small_size, shares=frozenset({0, 1})) -> None:  # type: ignore[no-untyped-def]
            await server.allocate_buckets(
                si, lease=lease, upload_secret=secret, share_numbers=shares, allocated_size=size
            )

        await measure(proxy, "allocate 2 shares, new storage index", allocate)

        async def write_all(si=si, n=0, data=small) -> None:  # type: ignore[no-untyped-def]
            for off in range(0, len(data), MiB):
                await server.write_immutable(
                    si, n, upload_secret=secret, offset=off, data=data[off : off + MiB]
                )

        await measure(proxy, "write + publish a 1 MiB share (1 write call)", write_all)
        await measure(proxy, "write + publish share 1 of the same SI", lambda: write_all(si, 1))
        await measure(proxy, "allocate again (shares exist: lease renewed)", allocate)
        big_si = new_si()
        await measure(
            proxy, "allocate 1 share of 100 MiB", lambda: allocate(big_si, len(big), frozenset({0}))
        )
        await measure(
            proxy,
            "write + publish the 100 MiB share (multipart)",
            lambda: write_all(big_si, 0, big),
        )
        await measure(
            proxy,
            "list the shares of a storage index (known to this server)",
            lambda: server.list_immutable_shares(si),
        )
        backend.store.listings.clear()  # as after a restart
        await measure(
            proxy,
            "list the shares of a storage index (after a restart)",
            lambda: server.list_immutable_shares(si),
        )
        unknown = new_si()
        await measure(
            proxy,
            "list the shares of a storage index holding none",
            lambda: server.list_immutable_shares(unknown),
        )
        await measure(
            proxy,
            "list it again (negative entry)",
            lambda: server.list_immutable_shares(unknown),
        )
        await server.list_immutable_shares(big_si)  # the client's shares query
        await measure(
            proxy,
            "read 1 MiB of a listed immutable share",
            lambda: server.read_immutable(big_si, 0, 5 * MiB, MiB),
        )

        async def read_sequentially() -> None:
            for offset in range(16 * MiB, 32 * MiB, MiB):
                await server.read_immutable(big_si, 0, offset, MiB)

        await measure(proxy, "read 16 MiB of it in 1 MiB pieces", read_sequentially)
        fresh = StorageServer(backend, nodeid=NODEID, clock=clock)
        backend.store.listings.clear()
        await measure(
            proxy,
            "read 1 MiB, share not listed before (cold cache)",
            lambda: fresh.read_immutable(big_si, 0, 0, MiB),
        )
        await server.list_immutable_shares(si)  # the first query after the restart: 1 LIST
        await measure(
            proxy,
            "add/renew lease (2 shares)",
            lambda: server.add_or_renew_lease(si, lease_secrets()),
        )
        await measure(
            proxy,
            "corruption advisory",
            lambda: server.advise_corrupt_share(ShareKind.IMMUTABLE, si, 0, b"bad"),
        )
        msi, we = new_si(), os.urandom(32)

        def rtw(
            *writes: tuple[int, bytes], reads: tuple[tuple[int, int], ...] = ()
        ) -> Awaitable[Any]:
            return server.read_test_write(
                msi,
                write_enabler=we,
                lease=lease,
                vectors={0: m.TestWriteVectors(writes=tuple(WriteVector(o, d) for o, d in writes))},
                read_vector=[ReadVector(o, s) for o, s in reads],
            )

        await measure(
            proxy, "mutable: create a 10 KiB share (inline)", lambda: rtw((0, os.urandom(10_000)))
        )
        await measure(
            proxy, "mutable: rewrite the 10 KiB share", lambda: rtw((0, os.urandom(10_000)))
        )
        await measure(
            proxy, "mutable: read 1 KiB (head cached)", lambda: server.read_mutable(msi, 0, 0, 1024)
        )
        await measure(
            proxy, "mutable: grow it to 8 MiB (8 chunks)", lambda: rtw((0, os.urandom(8 * MiB)))
        )
        await measure(
            proxy,
            "mutable: write 100 bytes into the 8 MiB share",
            lambda: rtw((3 * MiB + 5, b"x" * 100)),
        )
        await measure(
            proxy,
            "mutable: read 1 MiB of the 8 MiB share",
            lambda: server.read_mutable(msi, 0, 2 * MiB, MiB),
        )
        await measure(
            proxy,
            "mutable: delete the share (new_length=0)",
            lambda: server.read_test_write(
                msi,
                write_enabler=we,
                lease=lease,
                vectors={0: m.TestWriteVectors(new_length=0)},
                read_vector=[],
            ),
        )
        await server.stop()
        await setup.close()
        await proxy.port.stopListening()  # type: ignore[attr-defined]


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
