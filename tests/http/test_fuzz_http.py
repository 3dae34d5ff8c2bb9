"""Random bodies, headers and paths through real HTTP: never a 500, never a dropped request."""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import quote

import cbor2
import pytest_twisted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred

from tests.http.conftest import Gbs

T = TypeVar("T")

SI = "aaaaaaaaaaaaaaaaaaaaaaaaaa"

ENDPOINTS = [
    ("GET", "/storage/v1/version"),
    ("PUT", f"/storage/v1/lease/{SI}"),
    ("POST", f"/storage/v1/immutable/{SI}"),
    ("PATCH", f"/storage/v1/immutable/{SI}/0"),
    ("PUT", f"/storage/v1/immutable/{SI}/0/abort"),
    ("POST", f"/storage/v1/immutable/{SI}/0/corrupt"),
    ("GET", f"/storage/v1/immutable/{SI}/shares"),
    ("GET", f"/storage/v1/immutable/{SI}/0"),
    ("POST", f"/storage/v1/mutable/{SI}/read-test-write"),
    ("GET", f"/storage/v1/mutable/{SI}/shares"),
    ("GET", f"/storage/v1/mutable/{SI}/0"),
    ("POST", f"/storage/v1/mutable/{SI}/0/corrupt"),
]

KINDS = ["lease-renew-secret", "lease-cancel-secret", "upload-secret", "write-enabler", "bogus"]

secret_values = st.one_of(
    st.binary(min_size=0, max_size=40).map(b64encode),
    st.binary(max_size=40),
)
secret_headers = st.lists(
    st.tuples(st.sampled_from(KINDS), secret_values).map(lambda kv: kv[0].encode() + b" " + kv[1]),
    max_size=5,
)

cbor_leaf = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65),
    st.binary(max_size=20),
    st.text(max_size=10),
    st.booleans(),
    st.none(),
    st.sampled_from(["share-numbers", "allocated-size", "reason", "offset", "size", "data"]),
)
cbor_values = st.recursive(
    cbor_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.frozensets(st.integers(min_value=-5, max_value=300), max_size=5),
        st.dictionaries(
            st.one_of(
                st.integers(min_value=-2, max_value=300),
                st.sampled_from(
                    [
                        "share-numbers",
                        "allocated-size",
                        "reason",
                        "test-write-vectors",
                        "read-vector",
                        "test",
                        "write",
                        "new-length",
                        "offset",
                        "size",
                        "specimen",
                        "data",
                    ]
                ),
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=20,
)
bodies = st.one_of(st.binary(max_size=300), cbor_values.map(cbor2.dumps))
header_values = st.binary(max_size=40).filter(lambda v: b"\r" not in v and b"\n" not in v)


def _in_reactor(coroutine: Coroutine[Any, Any, T]) -> T:
    """From the worker thread: run ``coroutine`` in the reactor thread and wait for it."""
    result: T = threads.blockingCallFromThread(reactor, lambda: Deferred.fromCoroutine(coroutine))  # type: ignore[arg-type]
    return result


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest_twisted.ensureDeferred
async def test_random_requests_never_500(gbs: Gbs) -> None:
    # pytest-twisted runs tests in the reactor's greenlet: hypothesis runs in a
    # worker thread and hands each request to the reactor thread.
    @SETTINGS
    @given(
        endpoint=st.sampled_from(ENDPOINTS),
        secrets=secret_headers,
        body=bodies,
        content_type=st.one_of(st.none(), st.just(b"application/cbor"), header_values),
        range_header=st.one_of(
            st.none(), header_values, st.just(b"bytes 0-9/*"), st.just(b"bytes=0-9")
        ),
    )
    def check(
        endpoint: tuple[str, str],
        secrets: list[bytes],
        body: bytes,
        content_type: bytes | None,
        range_header: bytes | None,
    ) -> None:
        method, path = endpoint
        headers = {"x-tahoe-authorization": secrets}
        if content_type is not None:
            headers["content-type"] = [content_type]
        if range_header is not None:
            headers["range"] = [range_header]
            headers["content-range"] = [range_header]
        reply = _in_reactor(gbs.request(method, path, headers=headers, body=body))
        assert reply.code < 500, (reply.code, reply.body)

    await threads.deferToThread(check)


@pytest_twisted.ensureDeferred
async def test_random_paths_never_500(gbs: Gbs) -> None:
    @SETTINGS
    @given(segments=st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=6))
    def check(segments: list[str]) -> None:
        path = "/" + "/".join(quote(s, safe="") for s in segments)
        for method in ("GET", "POST"):
            reply = _in_reactor(gbs.request(method, path, body=b"\xa0"))
            assert reply.code in (400, 404, 405, 406, 413, 415, 416), (path, reply.code)

    await threads.deferToThread(check)
    assert (await gbs.request("GET", "/storage/v1/version")).code == 200
