"""``StorageConfig``: the [storage] section of tahoe.cfg, parsed and checked at start-up.

Keys and defaults follow stock Tahoe-LAFS 1.20 (``enabled``, ``storage_dir``,
``reserved_space``, ``readonly``, the ``expire.*`` lease-expiry keys) plus
``backend``, which picks where shares live. Expiry keys are validated with
upstream's rules; the node's lease checker only reports what they would reclaim
and deletes nothing yet (the node says so when expiry is on): a wrong value
should stop the node at start-up, not once deletion comes.

Keys a backend reads (``s3.*`` for ``cloud.s3``) are not listed here; the backend
reads or claims them through ``NodeConfig`` itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Protocol, overload

from attrs import field, frozen

from tahoe_cloud.errors import ConfigError

SECTION = "storage"
DEFAULT_BACKEND = "disk"
DEFAULT_STORAGE_DIRNAME = "storage"
# Far above the few persistent connections each client of a grid keeps open.
DEFAULT_MAX_CONNECTIONS = 1000

ExpirationMode = Literal["age", "cutoff-date"]


class ConfigSource(Protocol):
    """What parsing [storage] needs of ``tahoe_cloud.config.NodeConfig``.

    Named structurally so this module does not import ``config.node``, which
    imports it to parse [storage] while it is being built.
    """

    nodedir: Path
    config_path: Path

    def error(self, section: str | None, key: str | None, problem: str) -> ConfigError: ...
    def warn(self, message: str, **fields: object) -> None: ...
    def keys(self, section: str) -> list[str]: ...
    @overload
    def get(self, section: str, key: str, default: str) -> str: ...
    @overload
    def get(self, section: str, key: str, default: None = None) -> str | None: ...
    def get_bool(self, section: str, key: str, default: bool) -> bool: ...
    def get_int(
        self, section: str, key: str, default: int, *, minimum: int | None = ...
    ) -> int: ...
    @overload
    def get_size(self, section: str, key: str, default: int) -> int: ...
    @overload
    def get_size(self, section: str, key: str, default: None = None) -> int | None: ...
    def get_duration(self, section: str, key: str) -> int | None: ...
    def get_date(self, section: str, key: str) -> int | None: ...


EXPIRATION_MODES: tuple[ExpirationMode, ...] = ("age", "cutoff-date")

_CORE_KEYS = frozenset(
    {
        "enabled",
        "backend",
        "storage_dir",
        "reserved_space",
        "readonly",
        "maximum_mutable_share_size",
        "max_connections",
        "expire.enabled",
        "expire.mode",
        "expire.override_lease_duration",
        "expire.cutoff_date",
        "expire.immutable",
        "expire.mutable",
    }
)
# Valid for upstream, but about features tahoe-cloud does not have (Foolscap,
# storage plugins, grid managers, discarding data). Present -> a warning.
UNSUPPORTED_UPSTREAM_KEYS = frozenset(
    {"anonymous", "debug_discard", "plugins", "grid_management", "force_foolscap"}
)
KNOWN_STORAGE_KEYS = _CORE_KEYS | UNSUPPORTED_UPSTREAM_KEYS


@frozen
class ExpirationConfig:
    """The ``expire.*`` keys: when leases let shares be deleted.

    ``override_lease_duration`` is in seconds (used in ``age`` mode only);
    ``cutoff_date`` is the POSIX time of the UTC midnight starting the cutoff
    day (used in ``cutoff-date`` mode only, where it is required).
    """

    enabled: bool = False
    mode: ExpirationMode = "age"
    override_lease_duration: int | None = None
    cutoff_date: int | None = None
    immutable: bool = True
    mutable: bool = True

    @classmethod
    def from_node_config(cls, config: ConfigSource) -> ExpirationConfig:
        enabled = config.get_bool(SECTION, "expire.enabled", False)
        mode = _mode(config, enabled)
        override = config.get_duration(SECTION, "expire.override_lease_duration")
        cutoff = config.get_date(SECTION, "expire.cutoff_date")
        if mode == "cutoff-date" and cutoff is None:
            raise config.error(
                SECTION,
                "expire.cutoff_date",
                "is required when expire.mode is 'cutoff-date' (a date as YYYY-MM-DD)",
            )
        if mode == "cutoff-date" and override is not None:
            _ignored(config, "expire.override_lease_duration", "expire.mode is 'cutoff-date'")
        if mode == "age" and cutoff is not None:
            _ignored(config, "expire.cutoff_date", "expire.mode is 'age'")
        if enabled:
            # An operator coming from upstream with expiry on must not believe
            # old shares are being collected: say plainly that nothing is.
            config.warn(
                "{path}, section [storage], key 'expire.enabled': this version of "
                "tahoe-cloud runs the lease checker in report-only mode: it reports what "
                "would be reclaimed (lease_checker.json in the node directory) and no share "
                "will be deleted when its leases expire",
                path=str(config.config_path),
            )
        return cls(
            enabled=enabled,
            mode=mode,
            override_lease_duration=override,
            cutoff_date=cutoff,
            immutable=config.get_bool(SECTION, "expire.immutable", True),
            mutable=config.get_bool(SECTION, "expire.mutable", True),
        )


def _mode(config: ConfigSource, enabled: bool) -> ExpirationMode:
    """Upstream requires ``expire.mode`` once expiry is on, and checks it even when off."""
    text = config.get(SECTION, "expire.mode")
    if text is None:
        if enabled:
            raise config.error(
                SECTION,
                "expire.mode",
                "is required when expire.enabled is true: set it to 'age' or 'cutoff-date'",
            )
        return "age"
    for mode in EXPIRATION_MODES:
        if text == mode:
            return mode
    raise config.error(SECTION, "expire.mode", f"must be 'age' or 'cutoff-date', got {text!r}")


def _ignored(config: ConfigSource, key: str, because: str) -> None:
    config.warn(
        "{path}, section [storage]: key '{key}' is ignored because {because}",
        path=str(config.config_path),
        key=key,
        because=because,
    )


@frozen
class StorageConfig:
    """The [storage] section. ``storage_dir`` is absolute; ``reserved_space`` is in bytes."""

    storage_dir: Path
    enabled: bool = True
    backend: str = DEFAULT_BACKEND
    reserved_space: int = 0
    readonly: bool = False
    #: None: the server's default (``DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE``).
    maximum_mutable_share_size: int | None = None
    #: Simultaneous connections to the storage listener; more are closed at once.
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    expire: ExpirationConfig = field(factory=ExpirationConfig)

    @classmethod
    def from_node_config(cls, config: ConfigSource) -> StorageConfig:
        backend = config.get(SECTION, "backend", DEFAULT_BACKEND)
        if not backend:
            raise config.error(
                SECTION, "backend", f"is empty; name a storage backend, e.g. {DEFAULT_BACKEND}"
            )
        for key in sorted(UNSUPPORTED_UPSTREAM_KEYS & set(config.keys(SECTION))):
            config.warn(
                "{path}, section [storage]: key '{key}' is an upstream Tahoe-LAFS setting "
                "that tahoe-cloud does not support; it is ignored",
                path=str(config.config_path),
                key=key,
            )
        return cls(
            enabled=config.get_bool(SECTION, "enabled", True),
            backend=backend,
            storage_dir=_storage_dir(config),
            reserved_space=config.get_size(SECTION, "reserved_space", 0),
            readonly=config.get_bool(SECTION, "readonly", False),
            maximum_mutable_share_size=_maximum_mutable_share_size(config),
            max_connections=config.get_int(
                SECTION, "max_connections", DEFAULT_MAX_CONNECTIONS, minimum=1
            ),
            expire=ExpirationConfig.from_node_config(config),
        )


def _maximum_mutable_share_size(config: ConfigSource) -> int | None:
    size = config.get_size(SECTION, "maximum_mutable_share_size", None)
    if size is not None and size < 1:
        raise config.error(SECTION, "maximum_mutable_share_size", "must be at least 1 byte")
    return size


def _storage_dir(config: ConfigSource) -> Path:
    """``storage_dir``: absolute, or relative to NODEDIR; a leading ``~`` is expanded."""
    text = config.get(SECTION, "storage_dir")
    if text is None:
        return config.nodedir / DEFAULT_STORAGE_DIRNAME
    if not text:
        raise config.error(
            SECTION,
            "storage_dir",
            "is empty; remove the key to use NODEDIR/storage, or give a directory",
        )
    if "\0" in text:
        raise config.error(SECTION, "storage_dir", "contains a NUL character")
    return Path(os.path.abspath(os.path.join(config.nodedir, os.path.expanduser(text))))
