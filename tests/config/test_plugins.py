"""Backend plugins and their capabilities: what the commands find with ``providedBy``.

The example backend in tests/example_backend (installed by ./dev) gets
``check`` and its own ``create-node`` option with no change to tahoe-cloud.
"""

import subprocess
from importlib.metadata import EntryPoint
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_twisted

from tahoe_cloud.backends import registry
from tahoe_cloud.backends.capabilities import (
    IContainerCreation,
    IMaintenance,
    INodeCreationOptions,
    IPreflightCheck,
)
from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.cli import main as cli
from tahoe_cloud.cli.check import check_node
from tahoe_cloud.cli.clean import clean
from tahoe_cloud.cli.create_container import create_container
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.errors import ConfigError
from tests.config.conftest import REPO
from tests.support.stock_client import TAHOE_CLOUD

GROUP = "tahoe_cloud.backends"
EXAMPLE = "example.inmemory"


def tahoe_cloud(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TAHOE_CLOUD, *args], capture_output=True, text=True, cwd=str(REPO), timeout=60
    )


@pytest.fixture
def extra_entry_points(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    """Entry points the registry sees, replacing the installed ones."""
    points: list[EntryPoint] = []
    monkeypatch.setattr(registry, "entry_points", lambda *, group: points)
    return points


def register(points: list[EntryPoint], name: str, value: str) -> None:
    points.append(EntryPoint(name=name, value=value, group=GROUP))


def test_builtin_plugins_and_their_capabilities() -> None:
    plugins = {p.name: p for p in registry.installed_plugins()}
    s3 = plugins["cloud.s3"].capabilities
    for interface in (IPreflightCheck, IContainerCreation, IMaintenance, INodeCreationOptions):
        assert interface.providedBy(s3)
    assert plugins["disk"].capabilities is None
    assert plugins["memory"].capabilities is None
    example = plugins[EXAMPLE].capabilities
    assert IPreflightCheck.providedBy(example) and INodeCreationOptions.providedBy(example)
    assert not IMaintenance.providedBy(example)


def test_a_plain_factory_is_a_plugin_without_capabilities(
    extra_entry_points: list[EntryPoint],
) -> None:
    register(extra_entry_points, "plain", "tests.config.fake_backends:reads_its_keys")
    plugin = registry.find_plugin("plain")
    assert plugin.name == "plain" and plugin.capabilities is None
    config = NodeConfig.from_string("/node", "[storage]\nbackend = plain\n")
    assert isinstance(registry.create_backend(config), MemoryBackend)


def test_a_missing_package_names_the_backend_and_the_install_hint(
    extra_entry_points: list[EntryPoint],
) -> None:
    register(extra_entry_points, "needy", "tests.config.fake_backends:MISSING_PACKAGE")
    config = NodeConfig.from_string("/node", "[storage]\nbackend = needy\n")
    with pytest.raises(ConfigError) as info:
        registry.create_backend(config)
    assert info.value.key == "backend"
    assert "backend 'needy' needs a package that is missing" in str(info.value)
    assert "tahoe_cloud_no_such_dependency" in str(info.value)
    assert str(info.value).endswith(": pip install needy-backend")


def test_an_entry_point_that_cannot_be_imported_says_what_to_reinstall(
    extra_entry_points: list[EntryPoint],
) -> None:
    register(extra_entry_points, "gone", "tests.config.no_such_module:plugin")
    with pytest.raises(registry.BackendLoadError) as info:
        registry.find_plugin("gone")
    assert "backend 'gone'" in str(info.value) and "ModuleNotFoundError" in str(info.value)
    assert "reinstall the package that provides it" in str(info.value)
    # A broken backend does not stop the others from being listed.
    assert "gone" not in [p.name for p in registry.installed_plugins()]


def test_a_plugin_registered_under_another_name(extra_entry_points: list[EntryPoint]) -> None:
    register(extra_entry_points, "this", "tests.config.fake_backends:MISNAMED")
    with pytest.raises(registry.BackendLoadError, match="is the plugin of backend 'other'"):
        registry.find_plugin("this")


def test_create_node_options_and_private_files_of_a_third_party_backend(
    extra_entry_points: list[EntryPoint], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(extra_entry_points, "fake", "tests.config.fake_backends:WITH_OPTIONS")
    nodedir = tmp_path / "node"
    assert cli.main(["create-node", "--backend=fake", str(nodedir)]) == 1
    assert "create-node: --fake-url is required" in capsys.readouterr().err
    assert not nodedir.exists()
    assert cli.main(["create-node", "--fake-verbose", str(nodedir)]) == 1
    assert "--fake-verbose applies only with --backend fake" in capsys.readouterr().err
    assert cli.main(["create-node", "--backend=fake", "--fake-url=u", str(nodedir)]) == 0
    out = capsys.readouterr().out
    assert "tahoe-cloud check" not in out  # it has no preflight check to suggest
    assert "backend = fake\nfake.url = u\n" in (nodedir / "tahoe.cfg").read_text()
    token = nodedir / "private" / "fake-token"
    assert token.read_text() == "t0ken\n"
    assert token.stat().st_mode & 0o777 == 0o600


@pytest_twisted.ensureDeferred
async def test_commands_without_the_capability_say_so(tmp_path: Path) -> None:
    assert cli.main(["create-node", "--backend=memory", str(tmp_path / "m")]) == 0
    line = await check_node(tmp_path / "m")
    assert line.startswith("OK: the memory backend starts and stops cleanly"), line
    with pytest.raises(ConfigError) as info:
        await clean(tmp_path / "m")
    assert info.value.key == "backend"
    assert str(info.value).endswith(
        "backend 'memory' has nothing to clean; clean applies to the cloud.s3 backend only"
    )
    with pytest.raises(ConfigError, match="backend 'memory' has no container to create"):
        await create_container(tmp_path / "m")


def test_no_backend_offers_a_capability(
    extra_entry_points: list[EntryPoint], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        registry, "BUILTIN_BACKENDS", {"memory": "tahoe_cloud.backends.memory:plugin"}
    )
    assert cli.main(["create-node", "--backend=memory", str(tmp_path / "m")]) == 0
    from tahoe_cloud.cli.capability import node_capability

    with pytest.raises(ConfigError) as info:
        node_capability(tmp_path / "m", IMaintenance, "clean", "has nothing to clean")
    assert str(info.value).endswith("key 'backend': backend 'memory' has nothing to clean")


def test_example_backend_gets_create_node_and_check_without_tahoe_cloud_changes(
    tmp_path: Path,
) -> None:
    nodedir = tmp_path / "example"
    done = tahoe_cloud(
        "create-node", "--backend", EXAMPLE, "--example-capacity", "1MiB", str(nodedir)
    )
    assert done.returncode == 0, done.stderr
    assert f"backend = {EXAMPLE}\nexample.capacity = 1MiB\n" in (nodedir / "tahoe.cfg").read_text()
    assert f"Check the example settings with: tahoe-cloud check {nodedir}\n" in done.stdout
    assert "create-container" not in done.stdout
    done = tahoe_cloud("check", str(nodedir))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"OK: {EXAMPLE} would keep up to 1048576 bytes in memory\n"
    assert done.stderr == ""
    done = tahoe_cloud("create-node", "--example-capacity", "1MiB", str(tmp_path / "disk"))
    assert done.returncode == 1
    assert done.stderr == (
        f"tahoe-cloud create-node: --example-capacity applies only with --backend {EXAMPLE}\n"
    )
    done = tahoe_cloud(
        "create-node", "--backend", EXAMPLE, "--example-capacity", "0", str(tmp_path / "zero")
    )
    assert done.returncode == 1 and "must be more than 0 bytes" in done.stderr
    assert not (tmp_path / "zero").exists()


def test_a_backend_cannot_write_over_the_identity(
    extra_entry_points: list[EntryPoint], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(extra_entry_points, "greedy", "tests.config.fake_backends:BAD_PRIVATE_FILE")
    assert cli.main(["create-node", "--backend=greedy", str(tmp_path / "node")]) == 1
    assert "asks for a bad private file 'swissnum'" in capsys.readouterr().err
    assert not (tmp_path / "node").exists()


def test_stale_entry_points_of_tahoe_cloud_itself_are_not_a_conflict(
    extra_entry_points: list[EntryPoint],
) -> None:
    """An editable install's metadata may still name the old factories: the built-ins win."""
    own = SimpleNamespace(name="tahoe-cloud")
    stale = SimpleNamespace(name="disk", value="tahoe_cloud.backends.disk:create_backend", dist=own)
    extra_entry_points.append(stale)  # type: ignore[arg-type]
    assert registry.find_backends()["disk"] == [
        registry.BackendEntry("disk", registry.BUILTIN_BACKENDS["disk"], "tahoe-cloud (built in)")
    ]
    assert registry.find_plugin("disk").name == "disk"
