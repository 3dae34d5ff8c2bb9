"""Answers the S3 code cannot read: 200s that are no XML, non-numeric sizes, late <Error>s.

A tiny fake S3 (a Twisted ``Site`` answering from a script) stands in for a
proxy's error page or a truncated body. Each must become a transient
``S3Error`` (code ``MalformedResponse``, retried a bounded number of times),
never a bare parser or ``ValueError`` escaping to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tahoe_cloud.backends.s3.objectstore import multipart as mp
from tahoe_cloud.backends.s3.objectstore.addressing import BucketAddress, Endpoint
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import MALFORMED, S3Error
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.objects import delete_objects
from tahoe_cloud.backends.s3.objectstore.signing import Credentials, Signer
from tahoe_cloud.errors import BackendError
from tests.s3.conftest import FAST_RETRIES
from tests.s3.makers import make_backend

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
LISTING = (
    f"<ListBucketResult {NS}><IsTruncated>false</IsTruncated>"
    "<Contents><Key>a</Key><Size>{size}</Size><ETag>e</ETag></Contents></ListBucketResult>"
)
GARBAGE = b"<html><body>502 Bad Gateway from the corporate proxy"


class Scripted(Resource):
    """Answers each request with the next (status, body) of ``script``; the last repeats."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.script: list[tuple[int, bytes]] = [(200, b"")]
        self.seen: list[str] = []

    def render(self, request: Request) -> bytes:
        self.seen.append(request.method.decode())
        status, body = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        request.setResponseCode(status)
        return body


@pytest.fixture
def fake() -> Iterator[tuple[Scripted, S3Client]]:
    resource = Scripted()
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")  # type: ignore[arg-type]
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    url = f"http://127.0.0.1:{host.port}"
    address = BucketAddress.create(Endpoint.parse(url), "bucket", "path")
    signer = Signer(Credentials("key-id", "secret", None), "us-east-1")
    client = S3Client(reactor, address, signer, retry_policy=FAST_RETRIES)
    yield resource, client
    pytest_twisted.blockon(defer.Deferred.fromCoroutine(client.close()))
    pytest_twisted.blockon(port.stopListening())


@pytest_twisted.ensureDeferred
async def test_a_200_that_is_not_xml_is_a_retried_s3_error(fake: tuple[Scripted, S3Client]) -> None:
    server, client = fake
    server.script = [(200, GARBAGE)]
    with pytest.raises(S3Error) as e:
        await list_all(client, "p/")
    assert e.value.code == MALFORMED and e.value.transient
    assert len(server.seen) == FAST_RETRIES.max_attempts  # retried, and bounded
    # Once: retried, then the good answer is used.
    server.seen.clear()
    server.script = [(200, b""), (200, LISTING.format(size=5).encode())]
    assert [o.size for o in await list_all(client, "p/")] == [5]
    assert len(server.seen) == 2


@pytest.mark.parametrize("size", ["12x", "-1", "\u00b2", ""])
@pytest_twisted.ensureDeferred
async def test_a_non_numeric_size_is_an_s3_error(
    fake: tuple[Scripted, S3Client], size: str
) -> None:
    server, client = fake
    server.script = [(200, LISTING.format(size=size).encode())]
    if size == "":
        assert [o.size for o in await list_all(client, "p/")] == [0]
        return
    with pytest.raises(S3Error) as e:
        await list_all(client, "p/")
    assert e.value.code == MALFORMED


@pytest_twisted.ensureDeferred
async def test_complete_multipart_error_body_is_retried(fake: tuple[Scripted, S3Client]) -> None:
    server, client = fake
    late_error = b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"
    done = f'<CompleteMultipartUploadResult {NS}><ETag>"x-2"</ETag></CompleteMultipartUploadResult>'
    server.script = [(200, late_error), (200, done.encode())]
    assert (await mp.complete_multipart_upload(client, "k", "id", ['"a"', '"b"'])) == '"x-2"'
    assert server.seen == ["POST", "POST"]
    # A definite error in a 200 is not retried.
    server.seen.clear()
    server.script = [(200, b"<Error><Code>InvalidPart</Code></Error>")]
    with pytest.raises(S3Error) as e:
        await mp.complete_multipart_upload(client, "k", "id", ['"a"'])
    assert e.value.code == "InvalidPart" and server.seen == ["POST"]


@pytest_twisted.ensureDeferred
async def test_other_xml_answers(fake: tuple[Scripted, S3Client]) -> None:
    server, client = fake
    server.script = [(200, GARBAGE)]
    for call in (
        lambda: mp.create_multipart_upload(client, "k"),
        lambda: delete_objects(client, ["a", "b"]),
        lambda: list_all_uploads(client),
    ):
        with pytest.raises(S3Error) as e:
            await call()
        assert e.value.code == MALFORMED


async def list_all_uploads(client: S3Client) -> list[mp.PendingUpload]:
    return [u async for u in mp.list_multipart_uploads(client, "p/")]


@pytest_twisted.ensureDeferred
async def test_start_up_with_garbage_listing_is_a_backend_error(
    fake: tuple[Scripted, S3Client], tmp_path: object
) -> None:
    server, client = fake
    backend = make_backend(client, tmp_path, quota=1000)  # type: ignore[arg-type]
    server.script = [(200, GARBAGE)]
    with pytest.raises(BackendError) as e:
        await backend.maintenance.measure_usage()
    assert isinstance(e.value, S3Error) and e.value.code == MALFORMED
