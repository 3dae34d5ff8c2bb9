"""The storage protocol's routes (``/storage/v1/...``) over one ``StorageServer``.

Each route names its method, its path (literal segments, a storage index,
a share number), the exact set of ``X-Tahoe-Authorization`` secrets it needs
and its handler. Checks happen in this order for every request: swissnum
(401), route (404; 405 with ``Allow`` for a known path and another method),
secrets (400), storage index and share number syntax (400), then the
handler's own checks (415 Content-Type, 413 size, 400 schema, 416 ranges)
before the core is called. Handlers are thin: decode, call one core method,
encode; every status comes from the error table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from attrs import frozen
from twisted.internet.interfaces import IReactorTime
from twisted.web import http
from twisted.web.resource import IResource

from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.http import auth, schemas
from tahoe_cloud.http.async_bridge import (
    Answer,
    AsyncLeaf,
    WebRequest,
    cbor_answer,
    check_accepts_cbor,
    client_address,
)
from tahoe_cloud.http.auth import SecretKind, parse_secrets
from tahoe_cloud.http.body import PIECE, Limits, body_size, iter_body, read_body
from tahoe_cloud.http.budget import ANSWER_BUDGET, WRITE_BUDGET, ByteBudget
from tahoe_cloud.http.cbor_codec import decode_body, require_cbor_content_type
from tahoe_cloud.http.errors import HTTPError
from tahoe_cloud.http.range_headers import one_header, parse_content_range
from tahoe_cloud.http.reads import read_share
from tahoe_cloud.server.messages import ImmutableWriteResult, LeaseSecrets
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.vocabulary import ShareKind, StorageIndex, parse_share_number

SI = "{si}"
SHNUM = "{n}"
PREFIX = (b"storage", b"v1")


@frozen
class Call:
    """One routed request, decoded as far as the route says."""

    request: WebRequest
    secrets: dict[SecretKind, bytes]
    storage_index: StorageIndex | None
    share_number: int | None

    @property
    def si(self) -> StorageIndex:
        assert self.storage_index is not None
        return self.storage_index

    @property
    def shnum(self) -> int:
        assert self.share_number is not None
        return self.share_number

    def lease(self) -> LeaseSecrets:
        return LeaseSecrets(
            renew=self.secrets[SecretKind.LEASE_RENEW], cancel=self.secrets[SecretKind.LEASE_CANCEL]
        )


Handler = Callable[["StorageResource", Call], Awaitable[Answer]]


@frozen
class Route:
    """One endpoint: method, path pattern, the exact secrets it needs, and its handler."""

    method: bytes
    path: tuple[str, ...]
    secrets: frozenset[SecretKind]
    handler: Handler
    #: The stock client reads error bodies only here (see ``error_bodies_wanted``).
    error_bodies: bool = False


def _segment_matches(pattern: str, segment: bytes) -> bool:
    if pattern == SHNUM:
        return segment.isdigit()
    if pattern == SI:
        return bool(segment)
    return segment == pattern.encode("ascii")


def _path_matches(pattern: tuple[str, ...], segments: list[bytes]) -> bool:
    return len(pattern) == len(segments) and all(map(_segment_matches, pattern, segments))


def _text(segment: bytes) -> str:
    try:
        return segment.decode("ascii")
    except UnicodeDecodeError:
        raise HTTPError(http.BAD_REQUEST, "path segments must be ASCII") from None


def _share_number(text: str) -> int:
    """A share number from the path; a well-formed one past 255 names no share (404).

    Upstream routes any unsigned integer and answers 404 for a share it does
    not hold; the stock client ignores that 404 for corruption advisories
    about unknown share numbers, but not a 400.
    """
    try:
        return parse_share_number(text)
    except InvalidRequest:
        if text.isdigit() and not (len(text) > 1 and text.startswith("0")):
            raise HTTPError(http.NOT_FOUND, "no such share") from None
        raise


class StorageResource(AsyncLeaf):
    """Serves ``/storage/v1/...`` for one ``StorageServer``."""

    def __init__(
        self, server_: StorageServer, swissnum: bytes, clock: IReactorTime, limits: Limits
    ) -> None:
        super().__init__(swissnum, clock)
        self._server = server_
        self._limits = limits
        #: Share bytes read and not yet taken by their connections (see ``reads``).
        self.answer_budget = ByteBudget(ANSWER_BUDGET)
        #: Pieces of immutable writes read from their bodies, not yet written.
        self.write_budget = ByteBudget(WRITE_BUDGET)

    def _candidates(self, request: WebRequest) -> tuple[list[Route], list[bytes]]:
        segments = list(request.postpath or [])
        if tuple(segments[:2]) != PREFIX:
            return [], segments
        segments = segments[2:]
        return [r for r in ROUTES if _path_matches(r.path, segments)], segments

    def error_bodies_wanted(self, request: WebRequest) -> bool:
        candidates, _ = self._candidates(request)
        chosen = [r for r in candidates if r.method == request.method]
        return chosen[0].error_bodies if chosen else True

    async def route(self, request: WebRequest) -> Answer:
        candidates, segments = self._candidates(request)
        if not candidates:
            raise HTTPError(http.NOT_FOUND, "no such resource")
        chosen = [r for r in candidates if r.method == request.method]
        if not chosen:
            allowed = b", ".join(sorted({r.method for r in candidates}))
            return Answer(
                http.NOT_ALLOWED,
                b"method not allowed",
                b"text/plain; charset=utf-8",
                ((b"allow", allowed),),
            )
        found = chosen[0]
        secrets = parse_secrets(
            request.requestHeaders.getRawHeaders(b"x-tahoe-authorization"), found.secrets
        )
        storage_index = share_number = None
        for pattern, segment in zip(found.path, segments, strict=True):
            if pattern == SI:
                storage_index = StorageIndex.from_text(_text(segment))
            elif pattern == SHNUM:
                share_number = _share_number(_text(segment))
        return await found.handler(self, Call(request, secrets, storage_index, share_number))

    # --- general -------------------------------------------------------------

    async def version(self, call: Call) -> Answer:
        check_accepts_cbor(call.request)
        return cbor_answer(schemas.version_answer(await self._server.get_version()))

    async def add_or_renew_lease(self, call: Call) -> Answer:
        await self._server.add_or_renew_lease(call.si, call.lease())
        return Answer(http.NO_CONTENT)

    async def _cbor_body(self, call: Call, limit: int) -> object:
        require_cbor_content_type(call.request.requestHeaders.getRawHeaders(b"content-type"))
        return await decode_body(read_body(call.request, limit))

    async def _corrupt(self, call: Call, kind: ShareKind) -> Answer:
        reason = schemas.parse_corrupt(await self._cbor_body(call, self._limits.corrupt))
        await self._server.advise_corrupt_share(kind, call.si, call.shnum, reason)
        return Answer(http.OK)

    # --- immutable -----------------------------------------------------------

    async def allocate(self, call: Call) -> Answer:
        check_accepts_cbor(call.request)
        shares, size = schemas.parse_allocate(await self._cbor_body(call, self._limits.allocate))
        result = await self._server.allocate_buckets(
            call.si,
            lease=call.lease(),
            upload_secret=call.secrets[SecretKind.UPLOAD],
            share_numbers=shares,
            allocated_size=size,
            client=client_address(call.request),
        )
        return cbor_answer(schemas.allocate_answer(result))

    async def write_immutable(self, call: Call) -> Answer:
        check_accepts_cbor(call.request)
        values = call.request.requestHeaders.getRawHeaders(b"content-range")
        begin, end = parse_content_range(one_header(values, "Content-Range"))
        size = body_size(call.request, self._limits.immutable_write)
        if size != end - begin:
            raise HTTPError(http.BAD_REQUEST, "body length does not match Content-Range")
        result: ImmutableWriteResult | None = None
        offset = begin
        pieces = iter_body(call.request, size)
        while offset < end:
            # The piece read from the body is counted until the core has it written.
            taken = await self.write_budget.take(min(PIECE, end - offset))
            try:
                piece = next(pieces, b"")
                if not piece:
                    break
                result = await self._server.write_immutable(
                    call.si,
                    call.shnum,
                    upload_secret=call.secrets[SecretKind.UPLOAD],
                    offset=offset,
                    data=piece,
                )
                offset += len(piece)
                del piece
            finally:
                self.write_budget.give_back(taken)
        if result is None or offset != end:
            raise HTTPError(http.BAD_REQUEST, "body shorter than Content-Range")
        code = http.CREATED if result.complete else http.OK
        return cbor_answer(schemas.write_answer(result), code)

    async def abort(self, call: Call) -> Answer:
        await self._server.abort_immutable(
            call.si, call.shnum, upload_secret=call.secrets[SecretKind.UPLOAD]
        )
        return Answer(http.OK)

    async def list_immutable(self, call: Call) -> Answer:
        check_accepts_cbor(call.request)
        shares = await self._server.list_immutable_shares(call.si)
        return cbor_answer(schemas.share_set_answer(shares))

    async def read_immutable(self, call: Call) -> Answer:
        si, shnum = call.si, call.shnum

        async def read(offset: int, size: int) -> bytes:
            return await self._server.read_immutable(si, shnum, offset, size)

        return await read_share(call.request, read, self.answer_budget)

    async def corrupt_immutable(self, call: Call) -> Answer:
        return await self._corrupt(call, ShareKind.IMMUTABLE)

    # --- mutable -------------------------------------------------------------

    async def read_test_write(self, call: Call) -> Answer:
        check_accepts_cbor(call.request)
        body = await self._cbor_body(call, self._limits.read_test_write)
        vectors, reads = schemas.parse_read_test_write(body)
        result = await self._server.read_test_write(
            call.si,
            write_enabler=call.secrets[SecretKind.WRITE_ENABLER],
            lease=call.lease(),
            vectors=vectors,
            read_vector=reads,
        )
        return cbor_answer(schemas.read_test_write_answer(result))

    async def list_mutable(self, call: Call) -> Answer:
        check_accepts_cbor(call.request)
        return cbor_answer(
            schemas.share_set_answer(await self._server.list_mutable_shares(call.si))
        )

    async def read_mutable(self, call: Call) -> Answer:
        si, shnum = call.si, call.shnum

        async def read(offset: int, size: int) -> bytes:
            return await self._server.read_mutable(si, shnum, offset, size)

        return await read_share(call.request, read, self.answer_budget)

    async def corrupt_mutable(self, call: Call) -> Answer:
        return await self._corrupt(call, ShareKind.MUTABLE)


# Literal routes come before parameterised ones with the same shape.
ROUTES: tuple[Route, ...] = (
    Route(b"GET", ("version",), auth.NONE, StorageResource.version, error_bodies=True),
    Route(b"PUT", ("lease", SI), auth.LEASE, StorageResource.add_or_renew_lease),
    Route(b"POST", ("immutable", SI), auth.ALLOCATE, StorageResource.allocate, error_bodies=True),
    Route(b"GET", ("immutable", SI, "shares"), auth.NONE, StorageResource.list_immutable),
    Route(b"PATCH", ("immutable", SI, SHNUM), auth.UPLOAD, StorageResource.write_immutable),
    Route(b"GET", ("immutable", SI, SHNUM), auth.NONE, StorageResource.read_immutable),
    Route(b"PUT", ("immutable", SI, SHNUM, "abort"), auth.UPLOAD, StorageResource.abort),
    Route(
        b"POST", ("immutable", SI, SHNUM, "corrupt"), auth.NONE, StorageResource.corrupt_immutable
    ),
    Route(
        b"POST",
        ("mutable", SI, "read-test-write"),
        auth.READ_TEST_WRITE,
        StorageResource.read_test_write,
        error_bodies=True,
    ),
    Route(b"GET", ("mutable", SI, "shares"), auth.NONE, StorageResource.list_mutable),
    Route(b"GET", ("mutable", SI, SHNUM), auth.NONE, StorageResource.read_mutable),
    Route(b"POST", ("mutable", SI, SHNUM, "corrupt"), auth.NONE, StorageResource.corrupt_mutable),
)


def storage_resource(
    server_: StorageServer,
    swissnum: bytes,
    *,
    clock: IReactorTime | None = None,
    limits: Limits | None = None,
) -> IResource:
    """The resource to serve at the root of the storage HTTPS listener.

    Serve it through ``tahoe_cloud.http.body.storage_site`` so request bodies
    stay bounded. ``clock`` only times the request log (default: the reactor).
    """
    if clock is None:
        from twisted.internet import reactor as default_reactor

        clock = cast(IReactorTime, default_reactor)
    assert clock is not None
    if limits is None:
        limits = Limits.for_server(server_.maximum_mutable_share_size)
    return StorageResource(server_, swissnum, clock, limits)
