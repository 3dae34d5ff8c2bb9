"""An in-memory S3 service (a twisted.web resource) and an ``IAgent`` reaching it without sockets.

The fast tier beside moto: the real client code (signing, transport, retry,
XML parsing) runs against it, but no process is started and no port opened.
It implements the subset of S3 the cloud.s3 backend uses, strictly where the
backend's correctness depends on it: path-style bucket and object requests;
PUT with ``Content-MD5`` checked (``BadDigest``) and ``If-None-Match: *`` /
``If-Match`` enforced (412; ``If-Match`` on a missing key: 404, as AWS);
GET and HEAD with ranges (206 and ``Content-Range``, 416 past the end);
DELETE; ListObjectsV2 with continuation tokens; DeleteObjects; multipart
create, part, complete, abort and list. Signatures are not checked (moto's
auth mode and RGW do that), only that a request is signed at all.

Test-only code: it is a model of S3, not a server to run.
"""

# twisted.web's Request and treq.testing are untyped.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from attrs import define, field
from defusedxml import ElementTree
from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer, IResponse
from twisted.web.resource import Resource
from twisted.web.server import Request
from zope.interface import implementer

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
META = "x-amz-meta-"


@define
class StoredObject:
    body: bytes
    etag: str  # quoted, as S3 returns it
    meta: dict[str, str]
    modified: float


@define
class Upload:
    key: str
    meta: dict[str, str]
    initiated: float
    parts: dict[int, tuple[bytes, str]] = field(factory=dict)


class S3Refusal(Exception):
    """An S3 error answer: status, code and message."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


def _bare(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


def _iso(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _xml(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">{inner}</{root}>'.encode()


def _element(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


class MemoryS3(Resource):
    """Buckets of objects in dicts, answering S3 REST requests (path-style)."""

    isLeaf = True

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.buckets: dict[str, dict[str, StoredObject]] = {}
        self.uploads: dict[str, dict[str, Upload]] = {}
        self.operations: list[str] = []  # the S3 operation of every request, in order
        self._clock = clock
        self._ids = itertools.count(1)

    # --- dispatch ----------------------------------------------------------------

    def render(self, request: Request) -> bytes:
        method = (request.method or b"").decode("ascii")
        split = urlsplit((request.uri or b"").decode("ascii"))
        bucket, _, quoted_key = split.path.lstrip("/").partition("/")
        key = unquote(quoted_key)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        body = request.content.read() if request.content is not None else b""
        try:
            if not (request.getHeader("authorization") or "").startswith("AWS4-HMAC-SHA256 "):
                raise S3Refusal(403, "AccessDenied", "the request is not signed")
            return self._dispatch(request, method, bucket, key, query, body)
        except S3Refusal as e:
            request.setResponseCode(e.status)
            if method == "HEAD":
                return b""
            request.setHeader("content-type", "application/xml")
            return (
                b"<Error>"
                + (_element("Code", e.code) + _element("Message", e.message)).encode()
                + b"</Error>"
            )

    def _dispatch(
        self,
        request: Request,
        method: str,
        bucket: str,
        key: str,
        query: dict[str, str],
        body: bytes,
    ) -> bytes:
        if not key:
            return self._bucket_request(request, method, bucket, query, body)
        objects = self._bucket(bucket)
        if "uploadId" in query or (method == "POST" and "uploads" in query):
            return self._multipart(request, method, bucket, key, query, body)
        if method == "PUT":
            return self._put(request, objects, key, body)
        if method in ("GET", "HEAD"):
            return self._get(request, method, objects, key)
        if method == "DELETE":
            self.operations.append("DeleteObject")
            objects.pop(key, None)
            request.setResponseCode(204)
            return b""
        raise S3Refusal(405, "MethodNotAllowed")

    def _bucket(self, bucket: str) -> dict[str, StoredObject]:
        if bucket not in self.buckets:
            raise S3Refusal(404, "NoSuchBucket", "the bucket does not exist")
        return self.buckets[bucket]

    def _bucket_request(
        self, request: Request, method: str, bucket: str, query: dict[str, str], body: bytes
    ) -> bytes:
        if method == "PUT":
            self.operations.append("CreateBucket")
            if bucket in self.buckets:
                raise S3Refusal(409, "BucketAlreadyOwnedByYou")
            self.buckets[bucket] = {}
            self.uploads[bucket] = {}
            return b""
        objects = self._bucket(bucket)
        if method == "HEAD":
            self.operations.append("HeadBucket")
            return b""
        if method == "GET" and "uploads" in query:
            return self._list_uploads(bucket, query)
        if method == "GET":
            return self._list(objects, query)
        if method == "POST" and "delete" in query:
            return self._delete_many(request, objects, body)
        raise S3Refusal(405, "MethodNotAllowed")

    # --- objects -----------------------------------------------------------------

    @staticmethod
    def _check_md5(request: Request, body: bytes) -> None:
        sent = request.getHeader("content-md5")
        if sent is None:
            return
        if base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode() != sent:
            raise S3Refusal(400, "BadDigest", "the Content-MD5 you specified did not match")

    def _put(
        self, request: Request, objects: dict[str, StoredObject], key: str, body: bytes
    ) -> bytes:
        self.operations.append("PutObject")
        self._check_md5(request, body)
        current = objects.get(key)
        if request.getHeader("if-none-match") == "*" and current is not None:
            raise S3Refusal(412, "PreconditionFailed", "the key exists")
        if_match = request.getHeader("if-match")
        if if_match is not None:
            if current is None:
                raise S3Refusal(404, "NoSuchKey", "the key does not exist")
            if _bare(if_match) != _bare(current.etag):
                raise S3Refusal(412, "PreconditionFailed", "the ETag does not match")
        meta = {
            name.decode().lower(): values[-1].decode()
            for name, values in request.requestHeaders.getAllRawHeaders()
            if name.decode().lower().startswith(META)
        }
        stored = StoredObject(body, _etag(body), meta, self._clock())
        objects[key] = stored
        request.setHeader("etag", stored.etag)
        return b""

    def _get(
        self, request: Request, method: str, objects: dict[str, StoredObject], key: str
    ) -> bytes:
        self.operations.append("HeadObject" if method == "HEAD" else "GetObject")
        stored = objects.get(key)
        if stored is None:
            raise S3Refusal(404, "NoSuchKey", "the key does not exist")
        request.setHeader("etag", stored.etag)
        request.setHeader("content-type", "application/octet-stream")
        request.setHeader("last-modified", _iso(stored.modified))
        for name, value in stored.meta.items():
            request.setHeader(name, value)
        body = stored.body
        wanted = request.getHeader("range")
        if method == "HEAD":
            request.setHeader("content-length", str(len(body)))
            return b""
        if wanted is None:
            return body
        first_text, _, last_text = wanted.removeprefix("bytes=").partition("-")
        first = int(first_text)
        if first >= len(body):
            raise S3Refusal(416, "InvalidRange", "the range starts past the end")
        last = min(int(last_text), len(body) - 1) if last_text else len(body) - 1
        request.setResponseCode(206)
        request.setHeader("content-range", f"bytes {first}-{last}/{len(body)}")
        return body[first : last + 1]

    def _delete_many(
        self, request: Request, objects: dict[str, StoredObject], body: bytes
    ) -> bytes:
        self.operations.append("DeleteObjects")
        if request.getHeader("content-md5") is None:
            raise S3Refusal(400, "InvalidRequest", "DeleteObjects needs Content-MD5")
        self._check_md5(request, body)
        root = ElementTree.fromstring(body)
        for item in root.iter():
            if item.tag.rpartition("}")[2] == "Key" and item.text:
                objects.pop(item.text, None)
        return _xml("DeleteResult", "")

    def _list(self, objects: dict[str, StoredObject], query: dict[str, str]) -> bytes:
        self.operations.append("ListObjectsV2")
        prefix = query.get("prefix", "")
        page = int(query.get("max-keys", "1000"))
        after = query.get("start-after", "")
        if "continuation-token" in query:
            after = base64.urlsafe_b64decode(query["continuation-token"]).decode()
        keys = sorted(k for k in objects if k.startswith(prefix) and k > after)
        shown, truncated = keys[:page], len(keys) > page
        inner = _element("IsTruncated", str(truncated).lower()) + _element("KeyCount", len(shown))
        for k in shown:
            stored = objects[k]
            inner += (
                "<Contents>"
                + _element("Key", k)
                + _element("Size", len(stored.body))
                + _element("ETag", stored.etag)
                + _element("LastModified", _iso(stored.modified))
                + "</Contents>"
            )
        if truncated:
            token = base64.urlsafe_b64encode(shown[-1].encode()).decode()
            inner += _element("NextContinuationToken", token)
        return _xml("ListBucketResult", inner)

    # --- multipart ---------------------------------------------------------------

    def _multipart(
        self,
        request: Request,
        method: str,
        bucket: str,
        key: str,
        query: dict[str, str],
        body: bytes,
    ) -> bytes:
        uploads = self.uploads[bucket]
        if method == "POST" and "uploads" in query:
            self.operations.append("CreateMultipartUpload")
            upload_id = f"upload-{next(self._ids)}"
            meta = {
                name.decode().lower(): values[-1].decode()
                for name, values in request.requestHeaders.getAllRawHeaders()
                if name.decode().lower().startswith(META)
            }
            uploads[upload_id] = Upload(key, meta, self._clock())
            return _xml(
                "InitiateMultipartUploadResult",
                _element("Key", key) + _element("UploadId", upload_id),
            )
        upload = uploads.get(query["uploadId"])
        operation = {"PUT": "UploadPart", "POST": "CompleteMultipartUpload"}.get(
            method, "AbortMultipartUpload"
        )
        self.operations.append(operation)
        if upload is None or upload.key != key:
            raise S3Refusal(404, "NoSuchUpload", "the upload does not exist")
        if method == "PUT":
            self._check_md5(request, body)
            etag = _etag(body)
            upload.parts[int(query["partNumber"])] = (body, etag)
            request.setHeader("etag", etag)
            return b""
        if method == "DELETE":
            del uploads[query["uploadId"]]
            request.setResponseCode(204)
            return b""
        return self._complete(bucket, query["uploadId"], upload, body)

    def _complete(self, bucket: str, upload_id: str, upload: Upload, body: bytes) -> bytes:
        root = ElementTree.fromstring(body)
        numbers = [
            int(e.text or "0") for e in root.iter() if e.tag.rpartition("}")[2] == "PartNumber"
        ]
        if not numbers or any(n not in upload.parts for n in numbers):
            raise S3Refusal(400, "InvalidPart", "a part was not uploaded")
        data = b"".join(upload.parts[n][0] for n in numbers)
        digests = b"".join(bytes.fromhex(_bare(upload.parts[n][1])) for n in numbers)
        etag = f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(numbers)}"'
        self.buckets[bucket][upload.key] = StoredObject(data, etag, upload.meta, self._clock())
        del self.uploads[bucket][upload_id]
        return _xml(
            "CompleteMultipartUploadResult", _element("Key", upload.key) + _element("ETag", etag)
        )

    def _list_uploads(self, bucket: str, query: dict[str, str]) -> bytes:
        self.operations.append("ListMultipartUploads")
        prefix = query.get("prefix", "")
        inner = _element("IsTruncated", "false")
        for upload_id, upload in sorted(self.uploads[bucket].items(), key=lambda i: i[1].key):
            if upload.key.startswith(prefix):
                inner += (
                    "<Upload>"
                    + _element("Key", upload.key)
                    + _element("UploadId", upload_id)
                    + _element("Initiated", _iso(upload.initiated))
                    + "</Upload>"
                )
        return _xml("ListMultipartUploadsResult", inner)


@implementer(IAgent)
class MemoryAgent:
    """An ``IAgent`` delivering requests to a resource in memory (no socket).

    treq's ``RequestTraversalAgent`` connects client and server through an
    in-memory transport that moves bytes only when flushed; the client's own
    body producers run on the real reactor (reading files in threads), so
    this agent flushes on that reactor for as long as a connection is open.
    """

    def __init__(self, resource: Resource, reactor: IReactorTime, interval: float = 0.001) -> None:
        self._inner = RequestTraversalAgent(resource)
        self._reactor = reactor
        self._interval = interval
        self._call: IDelayedCall | None = None

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers | None = None,
        bodyProducer: IBodyProducer | None = None,
    ) -> Deferred[IResponse]:
        answer: Deferred[IResponse] = self._inner.request(method, uri, headers, bodyProducer)
        self._keep_pumping()
        return answer

    def _keep_pumping(self) -> None:
        if self._call is None:
            self._call = self._reactor.callLater(self._interval, self._pump)

    def _pump(self) -> None:
        self._call = None
        self._inner.flush()
        pumps: Any = self._inner._pumps
        if pumps:
            self._keep_pumping()
