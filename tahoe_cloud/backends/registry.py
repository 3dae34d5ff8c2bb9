"""Which backend stores the shares: ``[storage] backend = NAME`` -> a ``BackendPlugin``.

Backends are found by name in the entry-point group ``tahoe_cloud.backends``
(a third-party package adds one by declaring an entry point there, with no
change to tahoe-cloud), plus a built-in table of tahoe-cloud's own backends
so a source checkout works even before its package metadata is installed.
Only the selected backend is imported when a node starts: a missing optional
dependency of one backend never stops another from running.

An entry point names a :class:`~tahoe_cloud.backends.plugin.BackendPlugin`
(its factory, its capabilities and an install hint). A plain factory is still
accepted and counts as a plugin without capabilities. The factory is called as
``factory(config)`` with the ``NodeConfig`` and returns an object providing
``IStorageBackend``. After it returns, [storage] keys that neither
tahoe-cloud nor the backend read or claimed are reported as unknown.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from attrs import frozen

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.plugin import BackendFactory, BackendPlugin
from tahoe_cloud.errors import TahoeCloudError, UnknownBackend

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

__all__ = [
    "BUILTIN_BACKENDS",
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "BackendLoadError",
    "NoSuchBackend",
    "available_backends",
    "create_backend",
    "find_plugin",
    "installed_plugins",
    "load_backend_factory",
    "load_backend_plugin",
]

ENTRY_POINT_GROUP = "tahoe_cloud.backends"

# tahoe-cloud's own backends. They win over tahoe-cloud's own installed entry
# points, which may be stale in an editable install.
BUILTIN_BACKENDS = {
    "disk": "tahoe_cloud.backends.disk:plugin",
    "cloud.s3": "tahoe_cloud.backends.s3.plugin:plugin",
    "memory": "tahoe_cloud.backends.memory:plugin",
}
_BUILTIN_SOURCE = "tahoe-cloud (built in)"
_OWN_DISTRIBUTIONS = frozenset({"tahoe-cloud", "tahoe_cloud"})


class NoSuchBackend(TahoeCloudError):
    """No backend is registered under the name."""


class BackendLoadError(TahoeCloudError):
    """A registered backend cannot be used: a name conflict, an import failure, not a plugin."""


@frozen
class BackendEntry:
    """One registration: ``value`` is ``module:attribute`` of the plugin (or a bare factory)."""

    name: str
    value: str
    source: str

    def load(self) -> object:
        """Import the module and return the attribute (may raise anything an import raises)."""
        return EntryPoint(name=self.name, value=self.value, group=ENTRY_POINT_GROUP).load()

    @property
    def install_hint(self) -> str:
        """What to do when the entry point itself cannot be imported."""
        if self.source == _BUILTIN_SOURCE:
            return "reinstall tahoe-cloud with its dependencies"
        if self.source.startswith("an unknown"):
            return "reinstall the package that provides it"
        return f"reinstall {self.source} (pip install --force-reinstall {self.source})"


def find_backends() -> dict[str, list[BackendEntry]]:
    """Every registered backend name -> its registrations (more than one is a conflict).

    The same ``module:attribute`` registered twice (one distribution visible
    through two paths, or an entry point repeating a built-in) counts once.
    """
    found: dict[str, list[BackendEntry]] = {
        name: [BackendEntry(name, value, _BUILTIN_SOURCE)]
        for name, value in BUILTIN_BACKENDS.items()
    }
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = ep.dist.name if ep.dist is not None else "an unknown distribution"
        if source in _OWN_DISTRIBUTIONS and ep.name in BUILTIN_BACKENDS:
            continue
        entries = found.setdefault(ep.name, [])
        if all(entry.value != ep.value for entry in entries):
            entries.append(BackendEntry(ep.name, ep.value, source))
    return found


def available_backends() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(find_backends())


def find_plugin(name: str, found: dict[str, list[BackendEntry]] | None = None) -> BackendPlugin:
    """Import the plugin registered as ``name`` (a bare factory: a plugin with no capabilities).

    :raises NoSuchBackend: no backend has that name.
    :raises BackendLoadError: two different backends claim the name, importing
        it failed (the message says what to reinstall), or it is neither a
        plugin nor callable.
    """
    found = find_backends() if found is None else found
    entries = found.get(name)
    if not entries:
        raise NoSuchBackend(
            f"no storage backend is named {name!r}; available backends: " + ", ".join(sorted(found))
        )
    if len(entries) > 1:
        registrations = "; ".join(f"{e.value} from {e.source}" for e in entries)
        raise BackendLoadError(
            f"{len(entries)} different backends are registered as {name!r} "
            f"({registrations}); uninstall all but one"
        )
    entry = entries[0]
    try:
        loaded = entry.load()
    except Exception as e:  # any import failure is the operator's to fix
        raise BackendLoadError(
            f"backend {name!r} ({entry.value}, from {entry.source}) cannot be loaded: "
            f"{type(e).__name__}: {e}; {entry.install_hint}"
        ) from e
    if isinstance(loaded, BackendPlugin):
        if loaded.name != name:
            raise BackendLoadError(
                f"backend {name!r}: {entry.value} is the plugin of backend {loaded.name!r}"
            )
        return loaded
    if not callable(loaded):
        raise BackendLoadError(
            f"backend {name!r}: {entry.value} is not callable (nor a BackendPlugin)"
        )
    return BackendPlugin(name=name, factory=loaded)


def installed_plugins() -> list[BackendPlugin]:
    """Every backend that loads, sorted by name; those that do not are left out silently.

    For what every command line shows (create-node's options, which backends
    can ``clean``); selecting a broken backend reports its problem.
    """
    found = find_backends()
    plugins = []
    for name in sorted(found):
        try:
            plugins.append(find_plugin(name, found))
        except TahoeCloudError:
            continue
    return plugins


def load_backend_plugin(config: NodeConfig) -> BackendPlugin:
    """The plugin of the backend named by ``[storage] backend``.

    :raises UnknownBackend: no backend has that name.
    :raises ConfigError: on ``backend``, for any ``BackendLoadError``.
    """
    try:
        return find_plugin(config.storage.backend)
    except NoSuchBackend as e:
        raise UnknownBackend(str(config.config_path), "storage", "backend", str(e)) from None
    except BackendLoadError as e:
        raise config.error("storage", "backend", str(e)) from e.__cause__


def load_backend_factory(config: NodeConfig) -> BackendFactory:
    """The factory of the backend named by ``[storage] backend`` (see ``load_backend_plugin``)."""
    return load_backend_plugin(config).factory


def create_backend(config: NodeConfig) -> IStorageBackend:
    """Build the backend the configuration selects, then warn about unknown [storage] keys.

    :raises ConfigError: the backend cannot be found, loaded or configured
        (a missing package: with the plugin's install hint), or its factory
        returned something that does not provide ``IStorageBackend``.
    """
    name = config.storage.backend
    plugin = load_backend_plugin(config)
    try:
        backend = plugin.factory(config)
    except TahoeCloudError:
        raise
    except ImportError as e:
        hint = plugin.install_hint or "install the package it needs"
        raise config.error(
            "storage",
            "backend",
            f"backend {name!r} needs a package that is missing ({type(e).__name__}: {e}): {hint}",
        ) from e
    except Exception as e:  # a factory bug still needs a clear message
        raise config.error(
            "storage", "backend", f"backend {name!r} failed to start: {type(e).__name__}: {e}"
        ) from e
    if not IStorageBackend.providedBy(backend):
        raise config.error(
            "storage",
            "backend",
            f"backend {name!r}: its factory returned a {type(backend).__name__}, "
            "which does not provide IStorageBackend",
        )
    config.warn_unknown_keys("storage")
    return backend
