"""The one error hierarchy of tahoe-cloud.

Every error a layer raises upward is one of these classes, so the front end can
map them to HTTP statuses in one table (``tahoe_cloud.http``) and no backend ever
leaks a ``KeyError``, an ``OSError`` or an HTTP-client exception to its callers.

Messages are written for the person reading them (an operator, or a client
author looking at an HTTP error body) and never contain a secret: no swissnum,
lease secret, upload secret, write enabler, S3 secret or token.
"""

from __future__ import annotations


class TahoeCloudError(Exception):
    """Base class of every error tahoe-cloud raises on purpose."""


# --- configuration --------------------------------------------------------


class ConfigError(TahoeCloudError):
    """The node's configuration is wrong; says which file, section and key.

    ``section`` and ``key`` are ``None`` when the problem is with a whole file
    (a private secret file, say).
    """

    def __init__(self, path: str, section: str | None, key: str | None, problem: str) -> None:
        self.path = path
        self.section = section
        self.key = key
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if section := self.section:
            where += f", section [{section}]"
        if self.key:
            where += f", key '{self.key}'"
        return f"{where}: {self.problem}"


class UnknownBackend(ConfigError):
    """``[storage] backend`` names no registered backend."""


# --- backends ---------------------------------------------------------------


class BackendError(TahoeCloudError):
    """The backend failed to do what was asked (I/O error, service fault).

    The front end answers 503 when the fault is ``transient`` (the client may
    retry later), else 500, with a short message; nothing about the request's
    secrets is in it.
    """

    @property
    def transient(self) -> bool:
        """Whether the fault may pass by itself; the one place 503 and 500 are told apart."""
        return False


class BackendUnavailable(BackendError):
    """A transient fault of the storage service; the client may retry later."""

    @property
    def transient(self) -> bool:
        return True


# --- storage-server semantics (mapped to HTTP statuses by the front end) -------


class StorageError(TahoeCloudError):
    """A request the storage server refuses; the subclass says why."""


class InvalidRequest(StorageError):
    """Malformed or out-of-range input (HTTP 400)."""


class AnswerTooLarge(InvalidRequest):
    """The answer a request asks for would be over the server's limit (HTTP 400)."""


class TooManyUploads(StorageError):
    """The server holds as many uploads in progress as it allows (HTTP 503)."""


class TooManyUploadsFromClient(TooManyUploads):
    """This client address has as many uploads in progress as one may (HTTP 429)."""


class NotFound(StorageError):
    """The named thing does not exist (HTTP 404)."""


class ShareNotFound(NotFound):
    """No completed share with that storage index and share number."""


class UploadNotFound(NotFound):
    """No upload in progress for that storage index and share number."""


class NoSharesForStorageIndex(NotFound):
    """The storage index holds no shares (a lease request has nothing to renew)."""


class Unauthorized(StorageError):
    """A secret did not match (HTTP 401)."""


class WrongUploadSecret(Unauthorized):
    """The upload secret differs from the one given at allocation."""


class WrongWriteEnabler(Unauthorized):
    """The write enabler differs from the one stored with the mutable share."""


class ConflictingWrite(StorageError):
    """An immutable write overlaps earlier bytes with different bytes (HTTP 409)."""


class WriteBeyondAllocation(StorageError):
    """An immutable write reaches past the allocated size (HTTP 416)."""


class UploadAlreadyComplete(StorageError):
    """The upload is already complete; it can no longer be aborted (HTTP 405)."""


class ShareTooLarge(StorageError):
    """A mutable write would grow the share past the server's maximum (HTTP 400)."""


class TooManyLeases(StorageError):
    """A share already holds the most leases a server keeps on one share (HTTP 409).

    Renewing a lease it holds still works; only a new renew secret is refused.
    """


class ReadOnlyServer(StorageError):
    """The server is in read-only mode and refuses new immutable shares."""
