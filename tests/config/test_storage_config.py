"""The [storage] section: defaults, upstream's syntaxes and rules, clear errors."""

from collections.abc import Sequence
from pathlib import Path

import pytest
from twisted.logger import LogEvent

from tahoe_cloud.config import ExpirationConfig, NodeConfig, StorageConfig
from tahoe_cloud.errors import ConfigError
from tests.config.conftest import warnings_text

DAY = 86400


def storage(text: str, nodedir: str = "/node") -> StorageConfig:
    return NodeConfig.from_string(nodedir, "[storage]\n" + text).storage


def storage_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        storage(text)
    assert info.value.path == "/node/tahoe.cfg"
    assert info.value.section == "storage"
    return info.value


def test_defaults() -> None:
    for config in (NodeConfig.from_string("/node", "").storage, storage("")):
        assert config == StorageConfig(
            storage_dir=Path("/node/storage"),
            enabled=True,
            backend="disk",
            reserved_space=0,
            readonly=False,
            expire=ExpirationConfig(
                enabled=False,
                mode="age",
                override_lease_duration=None,
                cutoff_date=None,
                immutable=True,
                mutable=True,
            ),
        )


def test_values() -> None:
    config = storage(
        "enabled = no\nbackend = memory\nreserved_space = 5GiB\nreadonly = TRUE\n"
        "storage_dir = shares\n"
    )
    assert config.enabled is False
    assert config.backend == "memory"
    assert config.reserved_space == 5 * 2**30
    assert config.readonly is True
    assert config.storage_dir == Path("/node/shares")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/srv/tahoe", "/srv/tahoe"),
        ("../elsewhere", "/elsewhere"),
        ("a/./b/", "/node/a/b"),
    ],
)
def test_storage_dir(text: str, expected: str) -> None:
    assert storage(f"storage_dir = {text}\n").storage_dir == Path(expected)


def test_storage_dir_expands_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/op")
    assert storage("storage_dir = ~/shares\n").storage_dir == Path("/home/op/shares")


def test_empty_storage_dir() -> None:
    assert storage_error("storage_dir =\n").key == "storage_dir"


def test_empty_reserved_space_is_zero_as_upstream() -> None:
    assert storage("reserved_space =\n").reserved_space == 0


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("reserved_space = 1.5GB", "reserved_space", "expected a size"),
        ("readonly = maybe", "readonly", "expected a boolean"),
        ("enabled =", "enabled", "expected a boolean"),
        ("backend =", "backend", "is empty"),
        ("expire.enabled = sometimes", "expire.enabled", "expected a boolean"),
        ("expire.enabled = true", "expire.mode", "is required when expire.enabled is true"),
        ("expire.mode = oldest", "expire.mode", "must be 'age' or 'cutoff-date'"),
        ("expire.enabled = true\nexpire.mode = AGE", "expire.mode", "must be 'age'"),
        ("expire.mode = cutoff-date", "expire.cutoff_date", "is required when expire.mode"),
        ("expire.cutoff_date = 2024-02-30", "expire.cutoff_date", "not a real date"),
        ("expire.override_lease_duration = 60", "expire.override_lease_duration", "duration"),
        ("expire.immutable = nope", "expire.immutable", "expected a boolean"),
        ("expire.mutable = 2", "expire.mutable", "expected a boolean"),
    ],
)
def test_errors(text: str, key: str, words: str) -> None:
    error = storage_error(text + "\n")
    assert error.key == key
    assert words in error.problem
    assert str(error).startswith(f"/node/tahoe.cfg, section [storage], key '{key}': ")


def test_expire_age_mode() -> None:
    expire = storage(
        "expire.enabled = true\nexpire.mode = age\nexpire.override_lease_duration = 2 months\n"
        "expire.immutable = false\n"
    ).expire
    assert expire == ExpirationConfig(
        enabled=True, mode="age", override_lease_duration=62 * DAY, immutable=False
    )


def test_expire_cutoff_date_mode() -> None:
    expire = storage(
        "expire.enabled = yes\nexpire.mode = cutoff-date\nexpire.cutoff_date = 1970-01-11\n"
        "expire.mutable = off\n"
    ).expire
    assert expire == ExpirationConfig(
        enabled=True, mode="cutoff-date", cutoff_date=10 * DAY, mutable=False
    )


def test_enabled_expiry_warns_that_nothing_expires(logged: Sequence[LogEvent]) -> None:
    storage("expire.enabled = true\nexpire.mode = age\n")
    [warning] = warnings_text(logged)
    assert warning.startswith("/node/tahoe.cfg, section [storage], key 'expire.enabled': ")
    assert "no share will be deleted" in warning
    assert "report-only mode" in warning


def test_cutoff_date_mode_checked_even_when_disabled() -> None:
    # Upstream parses the mode and its cutoff date whether or not expiry is on.
    assert storage_error("expire.mode = cutoff-date\n").key == "expire.cutoff_date"


def test_keys_of_the_other_mode_are_ignored_with_a_warning(logged: Sequence[LogEvent]) -> None:
    storage(
        "expire.mode = cutoff-date\nexpire.cutoff_date = 2024-01-01\n"
        "expire.override_lease_duration = 30 days\n"
    )
    storage("expire.mode = age\nexpire.cutoff_date = 2024-01-01\n")
    first, second = warnings_text(logged)
    assert "'expire.override_lease_duration' is ignored" in first
    assert "'expire.cutoff_date' is ignored" in second


def test_unsupported_upstream_keys_warn(logged: Sequence[LogEvent]) -> None:
    config = NodeConfig.from_string("/node", "[storage]\nanonymous = false\ndebug_discard = 1\n")
    first, second = warnings_text(logged)
    assert "/node/tahoe.cfg, section [storage]: key 'anonymous'" in first
    assert "does not support" in first
    assert "'debug_discard'" in second
    assert config.unknown_keys("storage") == []


def test_unknown_keys(logged: Sequence[LogEvent]) -> None:
    config = NodeConfig.from_string(
        "/node",
        "[storage]\nreserved_spcae = 1G\ns3.bucket = b\nS3.Region = r\nmine.x = 1\n"
        "[node]\nanything = 1\n",
    )
    assert config.unknown_keys("storage") == ["reserved_spcae", "s3.bucket", "s3.region", "mine.x"]
    config.claim_keys("storage", "S3.")
    assert config.get("storage", "mine.x") == "1"
    assert config.warn_unknown_keys() == ["reserved_spcae"]
    [warning] = warnings_text(logged)
    assert warning == "/node/tahoe.cfg, section [storage]: unknown key 'reserved_spcae' is ignored"


def test_maximum_mutable_share_size() -> None:
    assert storage("").maximum_mutable_share_size is None
    assert storage("maximum_mutable_share_size = 16MiB\n").maximum_mutable_share_size == 16 * 2**20
    assert storage_error("maximum_mutable_share_size = 0\n").key == "maximum_mutable_share_size"


def test_max_connections() -> None:
    assert storage("").max_connections == 1000
    assert storage("max_connections = 50\n").max_connections == 50
    assert storage_error("max_connections = 0\n").key == "max_connections"
    assert storage_error("max_connections = many\n").key == "max_connections"
