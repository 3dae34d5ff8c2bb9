"""Reading tahoe.cfg and private/ files into a NodeConfig."""

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from twisted.logger import LogEvent, LogLevel

from tahoe_cloud.config import NodeConfig, read_node_config, warn_if_exposed
from tahoe_cloud.errors import ConfigError
from tests.config.conftest import warnings_text

# What `tahoe create-node --hostname 127.0.0.1` (stock 1.20) writes.
UPSTREAM_TAHOE_CFG = """\
# -*- mode: conf; coding: utf-8 -*-

# This file controls the configuration of the Tahoe node that
# lives in this directory. It is only read at node startup.

[node]
nickname = 
reveal-IP-address = true
web.port = tcp:3456:interface=127.0.0.1
web.static = public_html
tub.port = tcp:44337
tub.location = tcp:127.0.0.1:44337

#log_gatherer.furl =
#timeout.keepalive =

[client]
helper.furl =
shares.needed = 3
shares.happy = 7
shares.total = 10

[storage]
# Shall this node provide storage service?
enabled = true
#readonly =
reserved_space = 1G
#storage_dir =
#expire.enabled =
#expire.mode =

[helper]
# Shall this node run a helper service that clients can use?
enabled = false
"""  # noqa: W291


def write_cfg(nodedir: Path, text: str) -> Path:
    nodedir.mkdir(parents=True, exist_ok=True)
    path = nodedir / "tahoe.cfg"
    path.write_text(text, encoding="utf-8")
    return path


def test_upstream_node_directory(tmp_path: Path, logged: Sequence[LogEvent]) -> None:
    write_cfg(tmp_path, UPSTREAM_TAHOE_CFG)
    config = read_node_config(tmp_path)
    assert config.nodedir == tmp_path
    assert config.config_path == tmp_path / "tahoe.cfg"
    assert config.storage.enabled is True
    assert config.storage.backend == "disk"
    assert config.storage.reserved_space == 10**9
    assert config.storage.storage_dir == tmp_path / "storage"
    assert config.nickname == ""
    assert config.tub_port == "tcp:44337"
    assert config.tub_location == "tcp:127.0.0.1:44337"
    # Keys are case-insensitive, as upstream's configparser folds them.
    assert config.get("node", "reveal-ip-address") == "true"
    assert config.get_bool("node", "Reveal-IP-Address", False) is True
    assert config.warn_unknown_keys() == []
    assert warnings_text(logged) == []


def test_relative_nodedir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cfg(tmp_path / "n", "[storage]\n")
    monkeypatch.chdir(tmp_path)
    config = read_node_config("n")
    assert config.nodedir == tmp_path / "n"
    assert config.storage.storage_dir == tmp_path / "n" / "storage"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_node_config(tmp_path)
    assert str(tmp_path / "tahoe.cfg") in str(info.value)
    assert "missing" in str(info.value)


def test_unparsable_file_names_the_line_not_its_text(tmp_path: Path) -> None:
    write_cfg(tmp_path, "[storage]\nenabled = true\nsecret-looking junk\n")
    with pytest.raises(ConfigError) as info:
        read_node_config(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "tahoe.cfg"))
    assert "line(s) 3" in message
    assert "junk" not in message


def test_key_before_any_section(tmp_path: Path) -> None:
    write_cfg(tmp_path, "enabled = true\n")
    with pytest.raises(ConfigError, match="line 1 comes before any"):
        read_node_config(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "tahoe.cfg").write_bytes(b"[node]\nnickname = \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_node_config(tmp_path)


def test_byte_order_mark_and_no_interpolation(tmp_path: Path) -> None:
    (tmp_path / "tahoe.cfg").write_bytes("\ufeff[node]\nnickname = 100% %(x)s\n".encode())
    assert read_node_config(tmp_path).nickname == "100% %(x)s"


def test_section_names_are_case_sensitive_and_last_value_wins() -> None:
    config = NodeConfig.from_string("/n", "[Storage]\nbackend = x\n[storage]\nk = 1\nk = 2\n")
    assert config.storage.backend == "disk"
    assert config.get("storage", "k") == "2"


@pytest.mark.parametrize(
    ("getter", "text", "expected"),
    [
        ("get_bool", "maybe", "expected a boolean"),
        ("get_int", "12x", "expected a whole number"),
        ("get_size", "1.5G", "expected a size"),
        ("get_duration", "3 weeks", "expected a duration"),
        ("get_date", "yesterday", "expected a date"),
    ],
)
def test_typed_getter_errors_name_file_section_key(getter: str, text: str, expected: str) -> None:
    config = NodeConfig.from_string("/n", f"[custom]\nthe.key = {text}\n")
    with pytest.raises(ConfigError) as info:
        if getter == "get_bool":
            config.get_bool("custom", "the.key", False)
        else:
            getattr(config, getter)("custom", "the.key")
    error = info.value
    assert (error.path, error.section, error.key) == ("/n/tahoe.cfg", "custom", "the.key")
    assert str(error).startswith("/n/tahoe.cfg, section [custom], key 'the.key': ")
    assert expected in str(error)


def test_typed_getters() -> None:
    config = NodeConfig.from_string("/n", "[c]\nn = -3\nm = 7\ns = 2KiB\nb = off\n")
    assert config.get_int("c", "n") == -3
    assert config.get_int("c", "absent", 5) == 5
    assert config.get_int("c", "absent") is None
    assert config.get_size("c", "s") == 2048
    assert config.get_size("c", "absent", 9) == 9
    assert config.get_bool("c", "b", True) is False
    assert config.get_bool("c", "absent", True) is True
    assert config.get("absent-section", "k", "d") == "d"
    with pytest.raises(ConfigError, match="must be at least 10, got 7"):
        config.get_int("c", "m", minimum=10)


def test_error_helper() -> None:
    error = NodeConfig.from_string("/n", "").error("storage", "s3.bucket", "is required")
    assert str(error) == "/n/tahoe.cfg, section [storage], key 's3.bucket': is required"


# --- private/ ---------------------------------------------------------------


def make_private(nodedir: Path, name: str, content: bytes, mode: int = 0o600) -> Path:
    private = nodedir / "private"
    private.mkdir(parents=True, exist_ok=True)
    path = private / name
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


def test_read_private_strips(tmp_path: Path, logged: Sequence[LogEvent]) -> None:
    make_private(tmp_path, "s3.secret", b"  the-value \n\n")
    config = NodeConfig.from_string(tmp_path, "")
    assert config.read_private("s3.secret") == "the-value"
    assert config.read_private("s3.secret", required=True) == "the-value"
    assert warnings_text(logged) == []


def test_read_private_missing(tmp_path: Path) -> None:
    config = NodeConfig.from_string(tmp_path, "")
    assert config.read_private("nothing") is None
    with pytest.raises(ConfigError) as info:
        config.read_private("nothing", required=True)
    assert info.value.path == str(tmp_path / "private" / "nothing")
    assert str(info.value) == f"{tmp_path}/private/nothing: this required file is missing"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_read_private_unreadable(tmp_path: Path) -> None:
    make_private(tmp_path, "key", b"x", mode=0o000)
    with pytest.raises(ConfigError, match="cannot be read"):
        NodeConfig.from_string(tmp_path, "").read_private("key")


def test_read_private_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "private" / "key").mkdir(parents=True)
    with pytest.raises(ConfigError, match="cannot be read"):
        NodeConfig.from_string(tmp_path, "").read_private("key")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_read_private_warns_about_permissions_without_content(
    tmp_path: Path, logged: Sequence[LogEvent], mode: int
) -> None:
    path = make_private(tmp_path, "token", b"SUPERSECRET", mode=mode)
    assert NodeConfig.from_string(tmp_path, "").read_private("token") == "SUPERSECRET"
    [warning] = warnings_text(logged)
    assert str(path) in warning
    assert f"{mode:04o}" in warning
    assert "SUPERSECRET" not in warning


@pytest.mark.parametrize("name", ["", ".", "..", "../tahoe.cfg", "a/b"])
def test_read_private_refuses_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        NodeConfig.from_string(tmp_path, "").read_private(name)


def test_warn_if_exposed(tmp_path: Path, logged: Sequence[LogEvent]) -> None:
    private = make_private(tmp_path, "node.key", b"KEY", mode=0o600)
    assert warn_if_exposed(private) is False
    os.chmod(private, 0o640)
    assert warn_if_exposed(private) is True
    assert warn_if_exposed(tmp_path / "absent") is False
    [warning] = warnings_text(logged)
    assert "mode 0640" in warning


# --- [logging] ----------------------------------------------------------------


def test_log_level() -> None:
    assert NodeConfig.from_string("/n", "").log_level is LogLevel.info
    assert NodeConfig.from_string("/n", "[logging]\nlevel = Debug\n").log_level is LogLevel.debug
    with pytest.raises(ConfigError) as info:
        NodeConfig.from_string("/n", "[logging]\nlevel = verbose\n").log_level  # noqa: B018
    assert str(info.value).startswith("/n/tahoe.cfg, section [logging], key 'level': must be one")
