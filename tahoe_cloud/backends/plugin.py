"""The object a backend's entry point names: how to build it and what else it can do.

An entry point in the group ``tahoe_cloud.backends`` names a
:class:`BackendPlugin`. The registry imports the plugin only, so its module
should be cheap to import: a factory that needs a heavy or optional package
imports it when called, and ``install_hint`` tells the operator what to
install when that import fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from attrs import frozen

from tahoe_cloud.backends.interfaces import IStorageBackend

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig

BackendFactory = Callable[["NodeConfig"], IStorageBackend]


@frozen
class BackendPlugin:
    """One backend, as its package registers it.

    :ivar name: the name operators write in ``[storage] backend`` (and the
        entry point's name).
    :ivar factory: called once at start-up with the node's ``NodeConfig``;
        returns the (not yet started) ``IStorageBackend``. It checks settings
        but does no I/O.
    :ivar capabilities: an object providing any of the interfaces of
        :mod:`tahoe_cloud.backends.capabilities`, or None for none.
    :ivar install_hint: what to install when the factory cannot import what it
        needs, e.g. ``pip install acme-tape-backend``.
    """

    name: str
    factory: BackendFactory
    capabilities: object = None
    install_hint: str | None = None

    def __call__(self, config: NodeConfig) -> IStorageBackend:
        """Build the backend: code that calls an entry point as a factory keeps working."""
        return self.factory(config)
