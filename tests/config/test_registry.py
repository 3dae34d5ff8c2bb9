"""Selecting a backend by name: entry points, built-ins, lazy loading and clear errors."""

import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, distribution
from pathlib import Path

import pytest
import pytest_twisted
from twisted.logger import LogEvent

from tahoe_cloud.backends import registry
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.errors import ConfigError, UnknownBackend
from tests.config.conftest import REPO, warnings_text

GROUP = "tahoe_cloud.backends"


def config_for(backend: str, extra: str = "") -> NodeConfig:
    return NodeConfig.from_string("/node", f"[storage]\nbackend = {backend}\n{extra}")


def backend_error(config: NodeConfig) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        registry.create_backend(config)
    error = info.value
    assert (error.path, error.section, error.key) == ("/node/tahoe.cfg", "storage", "backend")
    return error


@pytest.fixture
def extra_entry_points(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    """Entry points the registry sees, replacing the installed ones."""
    points: list[EntryPoint] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        assert group == GROUP
        return points

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    return points


def register(points: list[EntryPoint], name: str, value: str) -> None:
    points.append(EntryPoint(name=name, value=value, group=GROUP))


def test_builtin_and_installed_backends_are_available() -> None:
    names = registry.available_backends()
    assert {"disk", "cloud.s3", "memory"} <= set(names)
    assert names == sorted(names)


def test_default_is_disk() -> None:
    factory = registry.load_backend_factory(NodeConfig.from_string("/node", ""))
    assert factory.__module__ == "tahoe_cloud.backends.disk"


def test_memory_backend() -> None:
    assert isinstance(registry.create_backend(config_for("memory")), MemoryBackend)


def test_unknown_backend_lists_available_names() -> None:
    error = backend_error(config_for("floppy"))
    assert isinstance(error, UnknownBackend)
    assert "no storage backend is named 'floppy'" in str(error)
    listed = str(error).split("available backends: ")[1].split(", ")
    assert {"cloud.s3", "disk", "memory"} <= set(listed)
    assert listed == sorted(listed)


S3_KEYS = "s3.bucket = tc-bucket\ns3.access_key_id = AKIDEXAMPLE\ns3.url = http://127.0.0.1:9\n"


def s3_config(nodedir: Path, keys: str = S3_KEYS, secret: str | None = "s3-secret") -> NodeConfig:
    if secret is not None:
        (nodedir / "private").mkdir(exist_ok=True)
        (nodedir / "private" / "s3secret").write_text(secret + "\n")
        (nodedir / "private" / "s3secret").chmod(0o600)
    return NodeConfig.from_string(str(nodedir), f"[storage]\nbackend = cloud.s3\n{keys}")


def test_cloud_s3_is_selectable(tmp_path: Path) -> None:
    from tahoe_cloud.backends.s3.backend import S3Backend

    backend = registry.create_backend(s3_config(tmp_path))
    assert IStorageBackend.providedBy(backend)
    assert isinstance(backend, S3Backend)
    assert registry.load_backend_factory(s3_config(tmp_path)).__module__ == (
        "tahoe_cloud.backends.s3.config"
    )


@pytest.mark.parametrize("missing", ["s3.bucket", "s3.access_key_id"])
def test_cloud_s3_required_keys(tmp_path: Path, missing: str) -> None:
    keys = "".join(line + "\n" for line in S3_KEYS.splitlines() if not line.startswith(missing))
    with pytest.raises(ConfigError) as info:
        registry.create_backend(s3_config(tmp_path, keys))
    error = info.value
    assert (error.path, error.section, error.key) == (
        str(tmp_path / "tahoe.cfg"),
        "storage",
        missing,
    )
    assert "is required when backend = cloud.s3" in str(error)


def test_cloud_s3_needs_its_secret_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        registry.create_backend(s3_config(tmp_path, secret=None))
    assert info.value.path == str(tmp_path / "private" / "s3secret")
    assert "this required file is missing" in str(info.value)


def test_two_registrations_of_one_name(extra_entry_points: list[EntryPoint]) -> None:
    register(extra_entry_points, "x", "tests.config.fake_backends:reads_its_keys")
    register(extra_entry_points, "x", "elsewhere:create_backend")
    error = backend_error(config_for("x"))
    assert "2 different backends are registered as 'x'" in str(error)
    assert "tests.config.fake_backends:reads_its_keys" in str(error)
    assert "elsewhere:create_backend" in str(error)


def test_a_third_party_cannot_take_a_builtin_name(extra_entry_points: list[EntryPoint]) -> None:
    register(extra_entry_points, "disk", "evil:create_backend")
    assert "registered as 'disk'" in str(backend_error(config_for("disk")))
    # ... but that conflict does not stop other backends from loading.
    assert isinstance(registry.create_backend(config_for("memory")), MemoryBackend)


def test_same_registration_twice_is_one(extra_entry_points: list[EntryPoint]) -> None:
    register(extra_entry_points, "memory", registry.BUILTIN_BACKENDS["memory"])
    register(extra_entry_points, "y", "tests.config.fake_backends:reads_its_keys")
    register(extra_entry_points, "y", "tests.config.fake_backends:reads_its_keys")
    assert isinstance(registry.create_backend(config_for("y")), MemoryBackend)
    assert isinstance(registry.create_backend(config_for("memory")), MemoryBackend)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("tests.config.no_such_module:create_backend", "ModuleNotFoundError"),
        ("tests.config.fake_backends:no_such_factory", "AttributeError"),
        ("tests.config.fake_backends:NOT_CALLABLE", "is not callable"),
        ("tests.config.fake_backends:returns_not_a_backend", "dict, which does not provide"),
        ("tests.config.fake_backends:raises_runtime_error", "RuntimeError: the factory broke"),
    ],
)
def test_broken_backends(extra_entry_points: list[EntryPoint], value: str, words: str) -> None:
    register(extra_entry_points, "broken", value)
    error = backend_error(config_for("broken"))
    assert "'broken'" in str(error)
    assert words in str(error)


def test_factory_config_errors_pass_through(extra_entry_points: list[EntryPoint]) -> None:
    register(extra_entry_points, "z", "tests.config.fake_backends:raises_config_error")
    with pytest.raises(ConfigError) as info:
        registry.create_backend(config_for("z"))
    assert info.value.key == "fake.url"


def test_unknown_keys_are_warned_after_the_backend_read_its_own(
    extra_entry_points: list[EntryPoint], logged: Sequence[LogEvent]
) -> None:
    register(extra_entry_points, "fake", "tests.config.fake_backends:reads_its_keys")
    registry.create_backend(config_for("fake", "fake.url = u\nfake.typo = t\nreserved_space = 1\n"))
    [warning] = warnings_text(logged)
    assert "unknown key 'fake.typo'" in warning


def test_only_the_selected_backend_is_imported() -> None:
    script = (
        "import sys\n"
        "from tahoe_cloud.config import NodeConfig\n"
        "from tahoe_cloud.backends.registry import create_backend\n"
        "create_backend(NodeConfig.from_string('/n', '[storage]\\nbackend = memory\\n'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('tahoe_cloud.backends.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert "tahoe_cloud.backends.memory" in out
    assert "tahoe_cloud.backends.disk" not in out
    assert "tahoe_cloud.backends.s3" not in out


@pytest_twisted.ensureDeferred
async def test_installed_third_party_backend_is_selectable(logged: Sequence[LogEvent]) -> None:
    """tests/example_backend, installed by ./dev, is found through its entry point alone."""
    try:
        dist = distribution("tahoe-cloud-example-backend")
    except ImportError:
        pytest.fail("tests/example_backend is not installed: run ./dev test, which installs it")
    [ep] = [ep for ep in dist.entry_points if ep.group == GROUP]
    assert ep.name == "example.inmemory"
    assert "example.inmemory" in registry.available_backends()

    config = config_for("example.inmemory", "example.capacity = 1MiB\nexample.later = 1\n")
    backend = registry.create_backend(config)
    assert IStorageBackend.providedBy(backend)
    assert backend.name == "example.inmemory"
    assert type(backend).__module__ == "tahoe_cloud_example_backend"
    await backend.start()
    assert await backend.available_space() == 2**20
    await backend.stop()
    assert warnings_text(logged) == []  # its keys are claimed, not unknown


def test_third_party_backend_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        registry.create_backend(config_for("example.inmemory", "example.capacity = lots\n"))
    assert (info.value.section, info.value.key) == ("storage", "example.capacity")
    assert "expected a size" in str(info.value)
