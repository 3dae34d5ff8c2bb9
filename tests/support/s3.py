"""One place to reach an S3 service in tests: clients, buckets, backends and nodes on it.

The service is moto (``tests/s3/moto.py``) or Ceph RGW (``ceph_rgw.py``);
each test works in a bucket of its own:

- ``make_client(service, bucket)``: an ``S3Client`` on a bucket;
- ``new_bucket(service)``: create a new, empty bucket (the one way to make one);
- ``s3_backend_on(service, directory, bucket)``: the conformance suite's
  ``S3Backend`` (small chunks, a key prefix) on a bucket;
- ``s3_node_options(...)``, ``create_s3_node(...)``, ``s3_cloud_node(...)``:
  a cloud.s3 node directory, made by ``create-node`` in this process or by a
  runnable ``CloudNode`` (which can make its bucket with ``create-container``),
  from the same options.
"""

from __future__ import annotations

import io
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from attrs import fields
from twisted.internet import reactor

from tahoe_cloud.backends.s3.backend import S3Backend
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.addressing import BucketAddress, Endpoint
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.retry import RetryPolicy
from tahoe_cloud.backends.s3.objectstore.signing import Credentials, Signer
from tahoe_cloud.backends.s3.objectstore.transport import Transport
from tahoe_cloud.backends.s3.settings import BackendSettings, Tuning

if TYPE_CHECKING:
    import pytest

    from tests.support.stock_client import CloudNode


class S3Service(Protocol):
    """An S3 service the tests reach: moto (``MotoServer``), Ceph RGW (``RGWServer``)
    or the in-memory S3 (``tests/s3/conftest.MemoryService``, reached through its ``agent``)."""

    @property
    def url(self) -> str: ...
    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...


FAST_RETRIES = RetryPolicy(max_attempts=4, max_total_time=5.0, base_delay=0.01, max_delay=0.05)


def make_client(
    server: S3Service,
    bucket: str,
    *,
    secret: str | None = None,
    key_id: str | None = None,
    token: str | None = None,
    url: str | None = None,
    policy: RetryPolicy = FAST_RETRIES,
) -> S3Client:
    creds = Credentials(key_id or server.access_key_id, secret or server.secret_access_key, token)
    address = BucketAddress.create(Endpoint.parse(url or server.url), bucket, "path")
    agent = getattr(server, "agent", None)  # the in-memory S3: no socket
    transport = None if agent is None else Transport(reactor, agent=agent)
    return S3Client(
        reactor, address, Signer(creds, "us-east-1"), transport=transport, retry_policy=policy
    )


def new_bucket_name() -> str:
    return f"tc-{uuid.uuid4().hex[:20]}"


async def new_bucket(service: S3Service) -> str:
    """Create a new, empty bucket on ``service`` and return its name.

    From synchronous code: ``run(new_bucket(service))`` (``tahoe_cloud.testing.run``).
    """
    name = new_bucket_name()
    client = make_client(service, name)
    try:
        await client.create_bucket()
    finally:
        await client.close()
    return name


_TUNING = {f.name for f in fields(Tuning)}
_SETTINGS = {f.name for f in fields(BackendSettings)} - {"tuning"}


def make_backend(client: S3Client, directory: Path, **kwargs: Any) -> S3Backend:
    """An ``S3Backend`` on ``client``'s bucket, spooling in ``directory``; ``kwargs`` name
    any field of ``BackendSettings`` or ``Tuning``, or ``clock`` and ``config_error``."""
    kwargs.setdefault("node_id", "test-node")
    tuning = Tuning(**{k: kwargs.pop(k) for k in list(kwargs) if k in _TUNING})
    settings = BackendSettings(
        tuning=tuning, **{k: kwargs.pop(k) for k in list(kwargs) if k in _SETTINGS}
    )
    return S3Backend(client, settings, spool_dir=directory / "s3-spool", **kwargs)


@asynccontextmanager
async def s3_backend_on(
    service: S3Service, directory: Path, bucket: str
) -> AsyncIterator[S3Backend]:
    """The conformance suite's backend on ``bucket``: small chunks, to exercise them.

    Called again with the same ``directory`` and ``bucket``, it reopens the same storage.
    """
    client = make_client(service, bucket)
    yield make_backend(
        client, directory, keys=KeyLayout("some/prefix/"), inline_limit=1024, chunk_size=4096
    )


def s3_node_options(
    service: S3Service,
    bucket: str,
    *,
    url: str | None = None,
    key_id: str | None = None,
    secret: str | None = None,
    prefix: str | None = None,
    region: str | None = None,
) -> tuple[list[str], str]:
    """``create-node`` options for a cloud.s3 node on ``bucket``, and its standard input.

    The secret goes on standard input, as an operator would give it.
    """
    options = [
        "--backend=cloud.s3",
        f"--s3-bucket={bucket}",
        f"--s3-access-key-id={key_id or service.access_key_id}",
        f"--s3-url={url or service.url}",
    ]
    if prefix is not None:
        options.append(f"--s3-prefix={prefix}")
    if region is not None:
        options.append(f"--s3-region={region}")
    return options, (secret or service.secret_access_key) + "\n"


def create_s3_node(
    nodedir: Path,
    service: S3Service,
    bucket: str,
    *,
    monkeypatch: pytest.MonkeyPatch,
    **options: Any,
) -> Path:
    """A cloud.s3 node directory made by ``create-node`` in this process."""
    from tahoe_cloud.cli import main as cli

    args, stdin = s3_node_options(service, bucket, **options)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = cli.main(["create-node", *args, str(nodedir)])
    assert status == 0
    return nodedir


def s3_cloud_node(
    nodedir: Path,
    service: S3Service,
    bucket: str,
    *,
    nickname: str = "",
    create_container: bool = False,
    **options: Any,
) -> CloudNode:
    """A runnable cloud.s3 node (``tests/support/stock_client.CloudNode``) on ``bucket``.

    ``create_container``: make the bucket with ``tahoe-cloud create-container``,
    as an operator would; the way for a synchronous test body, which runs in
    the reactor's greenlet where ``run(new_bucket(service))`` cannot wait.
    """
    from tests.support.stock_client import REPO, TAHOE_CLOUD, CloudNode

    args, stdin = s3_node_options(service, bucket, **options)
    backend, *create_args = args
    node = CloudNode(
        nodedir,
        nickname=nickname,
        backend=backend.removeprefix("--backend="),
        create_args=create_args,
        stdin=stdin.encode(),
    )
    if create_container:
        done = subprocess.run(
            [*TAHOE_CLOUD, "create-container", str(nodedir)],
            capture_output=True, text=True, cwd=str(REPO), timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return node
