"""``NodeConfig``: the node directory's tahoe.cfg and private/ files, read once at start-up.

tahoe.cfg is read the way stock Tahoe-LAFS reads it, so a node directory made
for upstream works unchanged: UTF-8 (a byte-order mark is skipped), section
names are case-sensitive, key names are not (configparser folds them to lower
case, which is why upstream's own ``reveal-IP-address`` matches its
``reveal-ip-address``), a repeated key keeps its last value. Unlike upstream,
``%`` is not special (no interpolation), so a value is exactly what is written.

Every problem becomes a ``ConfigError`` naming the file, section and key, and
saying what was expected. Typed getters record which keys were read, so keys
nobody uses can be reported (``warn_unknown_keys``) instead of silently ignored.
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar, overload

from twisted.logger import Logger, LogLevel

from tahoe_cloud.config import syntax
from tahoe_cloud.config.storage import KNOWN_STORAGE_KEYS, StorageConfig
from tahoe_cloud.errors import ConfigError

_log = Logger(namespace="tahoe_cloud.config")

_T = TypeVar("_T")

_INTEGER = re.compile(r"-?[0-9]+\Z")

CONFIG_FILENAME = "tahoe.cfg"
PRIVATE_DIRNAME = "private"

# Keys known without being read, per section. Only [storage] is checked for
# unknown keys: the other sections of an upstream tahoe.cfg hold client
# settings tahoe-cloud has no use for.
_KNOWN_KEYS = {"storage": KNOWN_STORAGE_KEYS}


def read_node_config(nodedir: str | os.PathLike[str]) -> NodeConfig:
    """Read ``NODEDIR/tahoe.cfg`` and check its [storage] section.

    :raises ConfigError: the file is missing, unreadable or unparsable, or a
        [storage] value is invalid.
    """
    nodedir_path = Path(os.path.abspath(os.path.expanduser(os.fspath(nodedir))))
    config_path = nodedir_path / CONFIG_FILENAME
    try:
        raw = config_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            str(config_path),
            None,
            None,
            "the file is missing; create a node directory with 'tahoe-cloud create-node NODEDIR'",
        ) from None
    except OSError as e:
        raise ConfigError(str(config_path), None, None, f"cannot be read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            str(config_path), None, None, f"is not UTF-8 text (bad byte at offset {e.start})"
        ) from None
    return NodeConfig.from_string(nodedir_path, text, config_path=config_path)


def warn_if_exposed(path: Path, mode: int | None = None) -> bool:
    """Warn (naming the file and its mode, never its content) if group or others
    may read or write the secret file ``path``; ``mode`` is its ``st_mode`` if known.

    Returns whether it warned. A file that cannot be stat'ed is left to the reader.
    """
    if mode is None:
        try:
            mode = path.stat().st_mode
        except OSError:
            return False
    if not mode & 0o077:
        return False
    _log.warn(
        "{path} is accessible by group or others (mode {mode}); "
        "it holds a secret: run 'chmod 600 {path}'",
        path=str(path),
        mode=f"{stat.S_IMODE(mode):04o}",
    )
    return True


def read_secret_file(path: Path) -> bytes:
    """The bytes of a file holding a secret, warning (never showing them) if others may read it.

    The one reader of secret files, for ``read_private`` and the node's
    identity files alike, so every secret file gets the same errors and warning.
    """
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(str(path), None, None, "this required file is missing") from None
    except OSError as e:
        raise ConfigError(str(path), None, None, f"cannot be read: {e.strerror}") from None
    warn_if_exposed(path, mode)
    return raw


def _parse_ini(text: str, config_path: Path) -> configparser.RawConfigParser:
    """Parse INI text as upstream does, minus interpolation."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text, source=str(config_path))
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError(
            str(config_path),
            None,
            None,
            f"line {e.lineno} comes before any [section] header",
        ) from None
    except configparser.ParsingError as e:
        # Only line numbers: the line itself might hold something private.
        lines = ", ".join(str(lineno) for lineno, _line in e.errors)
        raise ConfigError(
            str(config_path),
            None,
            None,
            f"cannot parse line(s) {lines}: expected '[section]', 'key = value' or a '#' comment",
        ) from None
    except configparser.Error as e:
        raise ConfigError(str(config_path), None, None, f"cannot be parsed: {e.message}") from None
    return parser


class NodeConfig:
    """The configuration of one node directory.

    Build it with ``read_node_config`` (or ``NodeConfig.from_string`` in tests).
    """

    storage: StorageConfig

    def __init__(
        self, nodedir: Path, parser: configparser.RawConfigParser, *, config_path: Path
    ) -> None:
        self.nodedir = nodedir
        self.config_path = config_path
        self._parser = parser
        self._read: set[tuple[str, str]] = set()
        self._claimed: dict[str, set[str]] = {}
        self.storage = StorageConfig.from_node_config(self)

    @classmethod
    def from_string(
        cls, nodedir: str | os.PathLike[str], text: str, *, config_path: Path | None = None
    ) -> NodeConfig:
        """Build a ``NodeConfig`` from tahoe.cfg text (``config_path``: NODEDIR/tahoe.cfg)."""
        nodedir_path = Path(os.path.abspath(os.path.expanduser(os.fspath(nodedir))))
        path = config_path if config_path is not None else nodedir_path / CONFIG_FILENAME
        return cls(nodedir_path, _parse_ini(text, path), config_path=path)

    def __repr__(self) -> str:
        return f"<NodeConfig {self.config_path}>"

    # --- errors -------------------------------------------------------------

    def error(self, section: str | None, key: str | None, problem: str) -> ConfigError:
        """A ``ConfigError`` about ``[section] key`` of this node's tahoe.cfg."""
        return ConfigError(str(self.config_path), section, key, problem)

    # --- raw access ---------------------------------------------------------

    @overload
    def get(self, section: str, key: str, default: str) -> str: ...
    @overload
    def get(self, section: str, key: str, default: None = None) -> str | None: ...
    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        """The value of ``[section] key`` as written (stripped), or ``default`` if absent."""
        key = self._parser.optionxform(key)
        self._read.add((section, key))
        if not self._parser.has_option(section, key):
            return default
        return self._parser.get(section, key)

    def has_section(self, section: str) -> bool:
        return self._parser.has_section(section)

    def keys(self, section: str) -> list[str]:
        """The key names present in ``section`` (lower case), in file order."""
        if not self._parser.has_section(section):
            return []
        return list(self._parser.options(section))

    def _parsed(self, section: str, key: str, parse: Callable[[str], _T]) -> _T | None:
        text = self.get(section, key)
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as e:
            raise self.error(section, key, str(e)) from None

    # --- typed getters ------------------------------------------------------

    def get_bool(self, section: str, key: str, default: bool) -> bool:
        """``true/false, yes/no, on/off, 1/0`` (any case); ``default`` if absent."""
        value = self._parsed(section, key, syntax.parse_bool)
        return default if value is None else value

    @overload
    def get_int(
        self, section: str, key: str, default: int, *, minimum: int | None = ...
    ) -> int: ...
    @overload
    def get_int(
        self, section: str, key: str, default: None = None, *, minimum: int | None = ...
    ) -> int | None: ...
    def get_int(
        self, section: str, key: str, default: int | None = None, *, minimum: int | None = None
    ) -> int | None:
        """A decimal integer (at least ``minimum`` if given); ``default`` if absent."""

        def parse(text: str) -> int:
            if not _INTEGER.match(text):
                raise ValueError(f"expected a whole number, got {text!r}")
            number = int(text)
            if minimum is not None and number < minimum:
                raise ValueError(f"must be at least {minimum}, got {number}")
            return number

        value = self._parsed(section, key, parse)
        return default if value is None else value

    @overload
    def get_size(self, section: str, key: str, default: int) -> int: ...
    @overload
    def get_size(self, section: str, key: str, default: None = None) -> int | None: ...
    def get_size(self, section: str, key: str, default: int | None = None) -> int | None:
        """A size in bytes in upstream's syntax ("1G", "500MiB", "0"); ``default`` if absent."""
        value = self._parsed(section, key, syntax.parse_size)
        return default if value is None else value

    def get_duration(self, section: str, key: str) -> int | None:
        """A duration in seconds in upstream's syntax ("60 days", "2 months"), or None."""
        return self._parsed(section, key, syntax.parse_duration)

    def get_date(self, section: str, key: str) -> int | None:
        """A YYYY-MM-DD date as the POSIX time of its UTC midnight, or None."""
        return self._parsed(section, key, syntax.parse_date)

    # --- [node] ---------------------------------------------------------------

    @property
    def nickname(self) -> str:
        """``[node] nickname``, "" when unset."""
        return self.get("node", "nickname", "")

    @property
    def tub_port(self) -> str | None:
        """``[node] tub.port`` as written (an endpoint string), or None."""
        return self.get("node", "tub.port")

    @property
    def tub_location(self) -> str | None:
        """``[node] tub.location`` as written (comma-separated hints), or None."""
        return self.get("node", "tub.location")

    # --- [logging] ------------------------------------------------------------

    @property
    def log_level(self) -> LogLevel:
        """``[logging] level``: the least severe events written (``info`` unless set).

        ``debug`` adds a line per successful request to the per-minute summary.
        """
        text = self.get("logging", "level", "info").strip().lower()
        levels = {level.name: level for level in LogLevel.iterconstants()}
        if text not in levels:
            raise self.error(
                "logging", "level", f"must be one of {', '.join(levels)}, not {text!r}"
            )
        level: LogLevel = levels[text]
        return level

    # --- unknown keys ---------------------------------------------------------

    def claim_keys(self, section: str, prefix: str) -> None:
        """Declare that keys of ``section`` starting with ``prefix`` belong to the caller.

        A backend calls this (e.g. ``claim_keys("storage", "s3.")``) so that its
        optional keys, even ones it has not read yet, are never reported as unknown.
        """
        self._claimed.setdefault(section, set()).add(self._parser.optionxform(prefix))

    def unknown_keys(self, section: str) -> list[str]:
        """Keys of ``section`` that nobody knows, read or claimed."""
        known = _KNOWN_KEYS.get(section, frozenset())
        claimed = self._claimed.get(section, set())
        return [
            key
            for key in self.keys(section)
            if key not in known
            and (section, key) not in self._read
            and not any(key.startswith(prefix) for prefix in claimed)
        ]

    def warn_unknown_keys(self, section: str = "storage") -> list[str]:
        """Log a warning for each unknown key of ``section`` (a typo, or a backend's key
        that another backend does not use); returns them.

        Upstream refuses unknown keys; tahoe-cloud only warns, so one tahoe.cfg can
        carry the settings of several backends while switching between them.
        """
        unknown = self.unknown_keys(section)
        for key in unknown:
            _log.warn(
                "{path}, section [{section}]: unknown key '{key}' is ignored",
                path=str(self.config_path),
                section=section,
                key=key,
            )
        return unknown

    # --- private/ ---------------------------------------------------------------

    def private_path(self, name: str) -> Path:
        """``NODEDIR/private/<name>``; ``name`` must be a plain file name."""
        if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
            raise ValueError(f"not a plain file name: {name!r}")
        return self.nodedir / PRIVATE_DIRNAME / name

    @overload
    def read_private(self, name: str, required: Literal[True]) -> str: ...
    @overload
    def read_private(self, name: str, required: bool = False) -> str | None: ...
    def read_private(self, name: str, required: bool = False) -> str | None:
        """The text of ``NODEDIR/private/<name>`` without surrounding whitespace.

        A missing file is a ``ConfigError`` when ``required``, else None.
        A file that group or others may access is read, with a warning.
        """
        path = self.private_path(name)
        if not required and not path.exists():
            return None
        raw = read_secret_file(path)
        try:
            return raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(str(path), None, None, "is not UTF-8 text") from None

    def warn(self, message: str, **fields: object) -> None:
        """Log a configuration warning (for parsers of this package)."""
        _log.warn(message, **fields)
