"""The one table from error classes to HTTP statuses, and the short bodies sent with them.

Handlers never set an error status themselves: they raise. Protocol-level
problems found by the front end itself (a bad header, a bad CBOR body) are
``HTTPError`` with an explicit status; everything the storage core raises is a
``tahoe_cloud.errors`` class, looked up here by walking its MRO, so a new
subclass inherits the status of its parent. Anything else is a bug: 500, the
traceback logged server-side, and only "internal server error" sent.

Bodies are short plain text. Storage errors carry their own message (written
for client authors and guaranteed secret-free by ``tahoe_cloud.errors``);
backend and unexpected errors send a generic phrase, because their messages
may name buckets, paths or endpoints the client has no business seeing.
"""

from __future__ import annotations

from attrs import frozen
from twisted.web import http

from tahoe_cloud import errors

#: RFC 6585; twisted.web has no name for it.
TOO_MANY_REQUESTS = 429

#: Longest reason text sent to a client (the stock client reads at most 10,000 bytes).
MAX_REASON_CHARS = 200


class HTTPError(Exception):
    """Raised inside the front end to answer ``code`` with a short ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


#: Status per error class; the most specific class in an exception's MRO wins.
STATUS_BY_ERROR: dict[type[BaseException], int] = {
    errors.InvalidRequest: http.BAD_REQUEST,
    errors.ShareTooLarge: http.BAD_REQUEST,
    errors.NotFound: http.NOT_FOUND,
    errors.Unauthorized: http.UNAUTHORIZED,
    errors.ConflictingWrite: http.CONFLICT,
    errors.TooManyLeases: http.CONFLICT,
    errors.WriteBeyondAllocation: http.REQUESTED_RANGE_NOT_SATISFIABLE,
    errors.UploadAlreadyComplete: http.NOT_ALLOWED,
    errors.ReadOnlyServer: http.FORBIDDEN,
    errors.TooManyUploads: http.SERVICE_UNAVAILABLE,
    errors.TooManyUploadsFromClient: TOO_MANY_REQUESTS,
    errors.StorageError: http.BAD_REQUEST,
    errors.BackendError: http.INTERNAL_SERVER_ERROR,  # 503 when ``transient``, below
    errors.TahoeCloudError: http.INTERNAL_SERVER_ERROR,
}

#: Errors whose own message may be shown to the client.
_CLIENT_VISIBLE: tuple[type[BaseException], ...] = (errors.StorageError,)

_GENERIC_REASON = {
    http.SERVICE_UNAVAILABLE: "storage backend temporarily unavailable",
    http.INTERNAL_SERVER_ERROR: "internal server error",
}


@frozen
class ErrorAnswer:
    """What to send for one exception, and whether it deserves a traceback in the log.

    A backend fault (S3 unreachable, a full disk) is expected to happen: it is
    logged as what it is, with its own secret-free message, not as a bug.
    """

    code: int
    reason: str
    unexpected: bool
    backend_fault: bool = False


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3] + "..."
    return text


def answer_for(exc: BaseException) -> ErrorAnswer:
    """Map any exception to the status and body the client gets."""
    if isinstance(exc, HTTPError):
        return ErrorAnswer(exc.code, _short(exc.reason), unexpected=False)
    for cls in type(exc).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is None:
            continue
        if isinstance(exc, errors.BackendError) and exc.transient:
            code = http.SERVICE_UNAVAILABLE
        if isinstance(exc, _CLIENT_VISIBLE):
            reason = _short(str(exc)) or http.RESPONSES.get(code, b"error").decode("ascii")
        else:
            reason = _GENERIC_REASON.get(code, "internal server error")
        # Only a 500 that is neither a backend fault nor a refusal the server
        # chose (too many uploads) is a bug, worth a traceback.
        fault = isinstance(exc, errors.BackendError)
        unexpected = code >= 500 and not fault and not isinstance(exc, _CLIENT_VISIBLE)
        return ErrorAnswer(code, reason, unexpected=unexpected, backend_fault=fault)
    return ErrorAnswer(http.INTERNAL_SERVER_ERROR, "internal server error", unexpected=True)
