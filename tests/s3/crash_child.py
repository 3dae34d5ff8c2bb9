"""Child process of the crash test: store a small share, then start a large upload.

Usage: python -m tests.s3.crash_child URL BUCKET WORKDIR STATUSFILE
It writes "small <si>" then "large <si>" to STATUSFILE as it goes, and is
killed with SIGKILL by the test while the large share's multipart upload is
in flight.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from twisted.internet import defer, task

from tahoe_cloud.backends.s3.backend import S3Backend
from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.addressing import BucketAddress, Endpoint
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.signing import Credentials, Signer
from tahoe_cloud.backends.s3.settings import BackendSettings, Tuning
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing.support import NODEID, new_si, upload_share

MiB = 1024 * 1024


async def main(reactor: object, url: str, bucket: str, workdir: str, status: str) -> None:
    address = BucketAddress.create(Endpoint.parse(url), bucket, "path")
    signer = Signer(Credentials("testing-key-id", "testing-secret"), "us-east-1")
    client = S3Client(reactor, address, signer)
    tuning = Tuning(multipart_threshold=6 * MiB, part_size=mp.MIN_PART_SIZE, parallel_parts=2)
    backend = S3Backend(
        client, BackendSettings("crash-node", tuning=tuning), spool_dir=Path(workdir) / "s3-spool"
    )
    server = StorageServer(backend, nodeid=NODEID, clock=reactor)  # type: ignore[arg-type]
    await server.start()
    small = new_si()
    await upload_share(server, small, 0, b"small share " * 100)
    with open(status, "a") as f:
        f.write(f"small {small.text}\n")
    large = new_si()
    with open(status, "a") as f:
        f.write(f"large {large.text}\n")
    await upload_share(server, large, 0, os.urandom(40 * MiB))
    with open(status, "a") as f:
        f.write("large-done\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, *args)))
