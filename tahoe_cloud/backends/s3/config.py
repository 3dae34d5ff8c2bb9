"""The ``cloud.s3`` settings: ``[storage] s3.*`` in tahoe.cfg and the secrets in ``private/``.

Every problem is a ``ConfigError`` naming the file, section and key. Secrets
are read from files only (never from tahoe.cfg, never from a command line)
and never appear in a message.

Keys (all in ``[storage]``)::

    backend = cloud.s3
    s3.access_key_id = AKIA...           required
    s3.bucket = my-bucket                required
    s3.url = https://s3.amazonaws.com    default; any S3-compatible URL (plain http if written)
    s3.region = us-east-1                default
    s3.prefix =                          default empty; several servers may share a bucket
    s3.addressing = auto                 auto | path | virtual
    s3.quota = 1TB                       optional; upstream size syntax
    s3.override_marker = false           take the bucket/prefix over from another node, once
    s3.clean_at_start = false            delete crash leftovers at start (lists the whole prefix)
    s3.max_requests = 16                 requests in flight
    s3.request_timeout = 60              seconds, per request
    s3.unsigned_payload = true           over https: send UNSIGNED-PAYLOAD instead of a body hash
    s3.read_ahead = 4MiB                 bytes one GET fetches for a small immutable read (0: off)
    s3.conditional_writes = required     required | optional: run on a service without them

Files in ``private/``: ``s3secret`` (required); ``s3sessiontoken`` (STS);
``s3usertoken`` and optional ``s3producttoken`` (DevPay). A product token
without a user token, or a session token together with DevPay tokens, is an error.

``create_backend`` (the ``cloud.s3`` entry point) turns the checked
``S3Config`` into a client and the ``BackendSettings`` of an ``S3Backend``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import frozen

from tahoe_cloud.backends.s3.backend import S3Backend
from tahoe_cloud.backends.s3.keys import KeyLayout, validate_prefix
from tahoe_cloud.backends.s3.objectstore.addressing import (
    ADDRESSING_CHOICES,
    AddressError,
    Addressing,
    BucketAddress,
    Endpoint,
    validate_bucket_name,
)
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.signing import Credentials, Signer, devpay_token
from tahoe_cloud.backends.s3.objectstore.transport import Transport
from tahoe_cloud.backends.s3.probe import ConditionalWritesUnsupported
from tahoe_cloud.backends.s3.readahead import DEFAULT_WINDOW
from tahoe_cloud.backends.s3.settings import BackendSettings, Tuning
from tahoe_cloud.backends.s3.spool import default_spool_dir
from tahoe_cloud.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

SECTION = "storage"
DEFAULT_URL = "https://s3.amazonaws.com"
DEFAULT_REGION = "us-east-1"
NODE_ID_FILE = "s3-node-id"
CONDITIONAL_WRITES = "s3.conditional_writes"


@frozen(repr=False)
class S3Config:
    """Everything the cloud.s3 backend needs, checked."""

    config_path: str
    secret_path: str
    address: BucketAddress
    region: str
    credentials: Credentials
    keys: KeyLayout
    quota: int | None
    override_marker: bool
    clean_at_start: bool
    max_requests: int
    request_timeout: int
    unsigned_payload: bool
    read_ahead: int
    require_conditional_writes: bool
    storage_dir: Path

    def __repr__(self) -> str:
        return f"<S3Config bucket={self.address.bucket!r} url={self.address.url()!r}>"

    def backend_settings(self, node_id: str) -> BackendSettings:
        """What the backend of node ``node_id`` is told (the rest is the client's)."""
        return BackendSettings(
            node_id,
            keys=self.keys,
            quota=self.quota,
            override_marker=self.override_marker,
            clean_at_start=self.clean_at_start,
            require_conditional_writes=self.require_conditional_writes,
            tuning=Tuning(read_ahead=self.read_ahead),
        )

    def describe(self, error: BackendError) -> ConfigError | None:
        """The ``ConfigError`` an error at start-up amounts to, or None if it is not one."""
        path, section = self.config_path, SECTION
        if isinstance(error, ConditionalWritesUnsupported):
            return ConfigError(path, section, CONDITIONAL_WRITES, error.problem)
        if not isinstance(error, S3Error):
            return None
        problem = str(error)
        if error.code in ("SignatureDoesNotMatch",):
            return ConfigError(self.secret_path, None, None, problem)
        key = {
            "InvalidAccessKeyId": "s3.access_key_id",
            "NoSuchBucket": "s3.bucket",
            "AccessDenied": "s3.bucket",
            "InvalidToken": "s3.access_key_id",
            "ExpiredToken": "s3.access_key_id",
            "AuthorizationHeaderMalformed": "s3.region",
            "PermanentRedirect": "s3.region",
            "InvalidLocationConstraint": "s3.region",
            "InvalidBucketName": "s3.bucket",
        }.get(error.code or "")
        if key is not None:
            return ConfigError(path, section, key, problem)
        if error.status is None:
            return ConfigError(
                path,
                section,
                "s3.url",
                f"cannot reach the S3 service at {self.address.url()} ({error.s3_message})",
            )
        return None


def _required(config: NodeConfig, key: str) -> str:
    value = config.get(SECTION, key)
    if not value:
        raise config.error(SECTION, key, "is required when backend = cloud.s3")
    return value


def _token(config: NodeConfig) -> str | None:
    session = config.read_private("s3sessiontoken")
    user = config.read_private("s3usertoken")
    product = config.read_private("s3producttoken")
    if product and not user:
        raise ConfigError(
            str(config.private_path("s3producttoken")),
            None,
            None,
            "a DevPay product token needs a user token in private/s3usertoken",
        )
    if session and user:
        raise ConfigError(
            str(config.private_path("s3sessiontoken")),
            None,
            None,
            "use either an STS session token or DevPay tokens (private/s3usertoken), not both",
        )
    if user:
        return devpay_token(user, product or None)
    return session or None


def parse_s3_config(config: NodeConfig) -> S3Config:
    """Read and check the ``s3.*`` keys and the secret files."""
    # Every s3.* key is read below (not claimed as a prefix), so a misspelt
    # one such as s3.bukcet is reported as an unknown key instead of ignored.
    key_id = _required(config, "s3.access_key_id")
    bucket = _required(config, "s3.bucket")
    url = config.get(SECTION, "s3.url") or DEFAULT_URL
    try:
        endpoint = Endpoint.parse(url)
    except AddressError as e:
        raise config.error(SECTION, "s3.url", str(e)) from None
    region = config.get(SECTION, "s3.region") or DEFAULT_REGION
    if not region.replace("-", "").isalnum():
        raise config.error(SECTION, "s3.region", f"not a region name: {region!r}")
    addressing = config.get(SECTION, "s3.addressing") or "auto"
    if addressing not in ADDRESSING_CHOICES:
        raise config.error(SECTION, "s3.addressing", "must be one of auto, path, virtual")
    chosen: Addressing = addressing
    try:
        address = BucketAddress.create(endpoint, bucket, chosen)
    except AddressError as e:
        raise config.error(SECTION, "s3.bucket", str(e)) from None
    try:
        prefix = validate_prefix(config.get(SECTION, "s3.prefix") or "")
    except ValueError as e:
        raise config.error(SECTION, "s3.prefix", str(e)) from None
    secret = config.read_private("s3secret", required=True)
    if not secret:
        raise ConfigError(str(config.private_path("s3secret")), None, None, "is empty")
    if config.get(SECTION, "reserved_space"):
        config.warn(
            "{path}, section [storage]: reserved_space has no meaning for cloud.s3 (use s3.quota)",
            path=str(config.config_path),
        )
    quota = config.get_size(SECTION, "s3.quota")
    return S3Config(
        config_path=str(config.config_path),
        secret_path=str(config.private_path("s3secret")),
        address=address,
        region=region,
        credentials=Credentials(key_id, secret, _token(config)),
        keys=KeyLayout(prefix),
        quota=quota,
        override_marker=config.get_bool(SECTION, "s3.override_marker", False),
        clean_at_start=config.get_bool(SECTION, "s3.clean_at_start", False),
        max_requests=config.get_int(SECTION, "s3.max_requests", 16, minimum=1),
        request_timeout=config.get_int(SECTION, "s3.request_timeout", 60, minimum=1),
        unsigned_payload=config.get_bool(SECTION, "s3.unsigned_payload", True),
        read_ahead=_read_ahead(config),
        require_conditional_writes=_conditional_writes(config),
        storage_dir=config.storage.storage_dir,
    )


def _conditional_writes(config: NodeConfig) -> bool:
    """``s3.conditional_writes``: True when required (the default)."""
    value = (config.get(SECTION, CONDITIONAL_WRITES) or "required").strip().lower()
    if value not in ("required", "optional"):
        raise config.error(SECTION, CONDITIONAL_WRITES, "must be required or optional")
    return value == "required"


#: Largest ``s3.read_ahead``: the backend keeps up to eight windows in memory.
MAX_READ_AHEAD = 64 * 1024 * 1024


def _read_ahead(config: NodeConfig) -> int:
    window = config.get_size(SECTION, "s3.read_ahead", DEFAULT_WINDOW)
    if window > MAX_READ_AHEAD:
        raise config.error(SECTION, "s3.read_ahead", "must be at most 64MiB")
    return window


def make_client(s3: S3Config, reactor: Any = None) -> S3Client:
    """The client of the configured bucket (no request until it is used)."""
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    signer = Signer(s3.credentials, s3.region, unsigned_payload=s3.unsigned_payload)
    transport = Transport(reactor, max_in_flight=s3.max_requests, timeout=s3.request_timeout)
    return S3Client(reactor, s3.address, signer, transport=transport)


def node_id(storage_dir: Path) -> str:
    """This node's marker id, kept in ``storage_dir/s3-node-id`` (made at first start)."""
    path = storage_dir / NODE_ID_FILE
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), None, None, f"cannot be read ({e})") from None
    value = os.urandom(16).hex()
    try:
        storage_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
    except FileExistsError:
        return path.read_text("ascii").strip()
    except OSError as e:
        raise ConfigError(str(path), None, None, f"cannot be created ({e.strerror})") from None
    return value


def create_backend(config: NodeConfig) -> S3Backend:
    """Entry point ``cloud.s3``: the backend ``config`` describes (no network until ``start``)."""
    if config.storage.readonly:
        config.warn("cloud.s3 in read-only mode: no new immutable shares will be accepted")
    s3 = parse_s3_config(config)
    return S3Backend(
        make_client(s3),
        s3.backend_settings(node_id(s3.storage_dir)),
        spool_dir=default_spool_dir(s3.storage_dir),
        config_error=s3.describe,
    )


def render_storage_lines(
    *,
    bucket: str,
    access_key_id: str,
    url: str | None = None,
    region: str | None = None,
    prefix: str | None = None,
) -> str:
    """The ``s3.*`` lines ``create-node --backend cloud.s3`` puts in ``[storage]``.

    Values are checked the way ``parse_s3_config`` checks them; raises
    ``ValueError`` with the option at fault.
    """
    for name, value in (("--s3-bucket", bucket), ("--s3-access-key-id", access_key_id)):
        if not value or any(c in value for c in "\r\n"):
            raise ValueError(f"{name} must be a non-empty single line")
    try:
        validate_bucket_name(bucket)
        if url is not None:
            Endpoint.parse(url)
    except AddressError as e:
        raise ValueError(f"--s3-url/--s3-bucket: {e}") from None
    lines = [f"s3.access_key_id = {access_key_id}", f"s3.bucket = {bucket}"]
    if url is not None:
        lines.append(f"s3.url = {url}")
    if region is not None:
        if not region.replace("-", "").isalnum():
            raise ValueError(f"--s3-region: not a region name: {region!r}")
        lines.append(f"s3.region = {region}")
    if prefix:
        try:
            validate_prefix(prefix)
        except ValueError as e:
            raise ValueError(f"--s3-prefix: {e}") from None
        lines.append(f"s3.prefix = {prefix}")
    return "".join(line + "\n" for line in lines)


def write_secret(nodedir: Path, secret: str) -> Path:
    """Store the secret access key in ``NODEDIR/private/s3secret`` (mode 0600); return its path.

    The caller reads ``secret`` from a file or standard input, never from argv.
    """
    secret = secret.strip()
    if not secret or "\n" in secret:
        raise ValueError("the S3 secret must be one non-empty line")
    private = nodedir / "private"
    private.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = private / "s3secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return path
