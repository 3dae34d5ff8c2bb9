"""Where request bodies are buffered: memory for the stock client's ~1 MiB writes, a file beyond."""

from __future__ import annotations

from io import BytesIO

from twisted.web.test.requesthelper import DummyChannel

from tahoe_cloud.http.body import MEMORY_BODY, BoundedRequest


def request() -> BoundedRequest:
    return BoundedRequest(DummyChannel())


def test_piece_sized_bodies_stay_in_memory() -> None:
    r = request()
    r.gotLength(1024 * 1024 + 300)
    assert isinstance(r.content, BytesIO)
    r.handleContentChunk(b"x" * 10)
    assert r.content.getvalue() == b"x" * 10


def test_larger_or_unannounced_bodies_spool_to_a_file() -> None:
    for length in (MEMORY_BODY + 1, None):
        r = request()
        r.gotLength(length)
        assert r.content is not None and not isinstance(r.content, BytesIO)
        r.content.close()


def test_over_the_limit_is_still_only_a_verdict() -> None:
    r = request()
    r.gotLength(r.max_body + 1)
    assert r.body_too_large
