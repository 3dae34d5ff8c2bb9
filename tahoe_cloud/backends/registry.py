"""Which backend stores the shares: ``[storage] backend = NAME`` -> an ``IStorageBackend``.

Backends are found by name in the entry-point group ``tahoe_cloud.backends``
(a third-party package adds one by declaring an entry point there, with no
change to tahoe-cloud), plus a built-in table of tahoe-cloud's own backends
so a source checkout works even before its package metadata is installed.
Only the selected backend is imported: a missing optional dependency of one
backend never stops another from running.

A backend factory is called as ``factory(config)`` with the ``NodeConfig`` and
returns an object providing ``IStorageBackend``. After it returns, [storage]
keys that neither tahoe-cloud nor the backend read or claimed are reported as
unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from attrs import frozen

from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.errors import TahoeCloudError, UnknownBackend

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

ENTRY_POINT_GROUP = "tahoe_cloud.backends"

BackendFactory = Callable[["NodeConfig"], IStorageBackend]

# tahoe-cloud's own backends, in case the installed metadata is missing or stale.
BUILTIN_BACKENDS = {
    "disk": "tahoe_cloud.backends.disk:create_backend",
    "cloud.s3": "tahoe_cloud.backends.s3:create_backend",
    "memory": "tahoe_cloud.backends.memory:create_backend",
}
_BUILTIN_SOURCE = "tahoe-cloud (built in)"


@frozen
class BackendEntry:
    """One registration: ``value`` is ``module:attribute`` of the factory."""

    name: str
    value: str
    source: str

    def load(self) -> object:
        """Import the module and return the factory (may raise anything an import raises)."""
        return EntryPoint(name=self.name, value=self.value, group=ENTRY_POINT_GROUP).load()


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
        entries = found.setdefault(ep.name, [])
        if all(entry.value != ep.value for entry in entries):
            entries.append(BackendEntry(ep.name, ep.value, source))
    return found


def available_backends() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(find_backends())


def load_backend_factory(config: NodeConfig) -> BackendFactory:
    """Import the factory of the backend named by ``[storage] backend``.

    :raises UnknownBackend: no backend has that name.
    :raises ConfigError: two different backends claim the name, or importing it failed.
    """
    name = config.storage.backend
    found = find_backends()
    entries = found.get(name)
    if not entries:
        raise UnknownBackend(
            str(config.config_path),
            "storage",
            "backend",
            f"no storage backend is named {name!r}; available backends: "
            + ", ".join(sorted(found)),
        )
    if len(entries) > 1:
        registrations = "; ".join(f"{e.value} from {e.source}" for e in entries)
        raise config.error(
            "storage",
            "backend",
            f"{len(entries)} different backends are registered as {name!r} "
            f"({registrations}); uninstall all but one",
        )
    entry = entries[0]
    try:
        factory = entry.load()
    except Exception as e:  # any import failure is the operator's to fix
        raise config.error(
            "storage",
            "backend",
            f"backend {name!r} ({entry.value}, from {entry.source}) cannot be loaded: "
            f"{type(e).__name__}: {e}",
        ) from e
    if not callable(factory):
        raise config.error("storage", "backend", f"backend {name!r}: {entry.value} is not callable")
    return factory


def create_backend(config: NodeConfig) -> IStorageBackend:
    """Build the backend the configuration selects, then warn about unknown [storage] keys.

    :raises ConfigError: the backend cannot be found, loaded or configured, or
        its factory returned something that does not provide ``IStorageBackend``.
    """
    name = config.storage.backend
    factory = load_backend_factory(config)
    try:
        backend = factory(config)
    except TahoeCloudError:
        raise
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
