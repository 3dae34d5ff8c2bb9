"""The storage node as a Twisted service: backend -> StorageServer -> HTTPS listener.

Start-up order: build the configured backend through the registry, start the
``StorageServer`` (which starts the backend), then listen with TLS on
``[node] tub.port`` using the node's own certificate, at most
``[storage] max_connections`` connections at a time, and last start the
child services (background jobs, which need the server up), and last of
them the lease checker (``tahoe_cloud.node.lease_checker``, report only) when
the backend provides ``IShareEnumeration``. Shut-down runs in the reverse
order: stop the children, stop accepting connections, then
``StorageServer.stop()``, which aborts in-flight uploads cleanly (a
half-written immutable share is discarded, never published) before
stopping the backend. Completed shares are never touched by a stop.

The test-only lease view (upstream's conformance tests read lease state
through it) is served only when ``[testing] lease_view.port`` is set, on its
own plain-HTTP listener, which must be a loopback interface; never on the
storage port. With it, ``[testing] fake_clock = true`` runs the server on a
``twisted.internet.task.Clock`` (starting at the real time) that only the lease
view's ``/clock/advance`` moves, so those tests can let days pass at once.
Neither belongs in a production configuration: a fake clock never expires an
abandoned upload.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from OpenSSL import crypto
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.internet.ssl import AcceptableCiphers, CertificateOptions
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.web.resource import IResource
from twisted.web.server import Site

from tahoe_cloud.backends.capabilities import IShareEnumeration
from tahoe_cloud.backends.interfaces import IStorageBackend
from tahoe_cloud.backends.plugin import BackendFactory
from tahoe_cloud.backends.registry import create_backend
from tahoe_cloud.config import NodeConfig
from tahoe_cloud.http.body import Limits, storage_site
from tahoe_cloud.http.connections import ConnectionLimit, ensure_file_limit
from tahoe_cloud.http.lease_view import lease_view_resource
from tahoe_cloud.http.resource import storage_resource
from tahoe_cloud.node.lease_checker import LeaseCheckerService, state_path
from tahoe_cloud.node.nodedir import NodeDirectory
from tahoe_cloud.server.expiry_cycle import ExpiryCycleRunner
from tahoe_cloud.server.expiry_policy import ExpiryPolicy
from tahoe_cloud.server.server import DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE, StorageServer

_log = Logger(namespace="tahoe_cloud.node")

ResourceFactory = Callable[[StorageServer, bytes], IResource]
LeaseViewFactory = Callable[[StorageServer, bytes, Clock | None], IResource]

LEASE_VIEW_SECTION = "testing"
LEASE_VIEW_KEY = "lease_view.port"
FAKE_CLOCK_KEY = "fake_clock"
_LOOPBACK_ENDPOINT = re.compile(r"tcp:\d+:interface=(127\.0\.0\.1|localhost)\Z")


def _default_backend_factory(config: NodeConfig) -> IStorageBackend:
    return create_backend(config)


def _default_resource_factory(server: StorageServer, swissnum: bytes) -> IResource:
    return storage_resource(server, swissnum)


def _default_lease_view_factory(
    server: StorageServer, swissnum: bytes, test_clock: Clock | None
) -> IResource:
    return lease_view_resource(server, swissnum, test_clock=test_clock)


#: TLS 1.2 suites: forward-secret key exchange and AEAD only, no CBC (TLS 1.3's are all AEAD
#: and keep OpenSSL's defaults; the stock client negotiates TLS 1.3).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"


def tls_options(node: NodeDirectory) -> CertificateOptions:
    """Server-side TLS with the node's own key and self-signed certificate."""
    return CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(node.identity.private_key),
        certificate=crypto.X509.from_cryptography(node.identity.certificate),
        acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(  # type: ignore[no-untyped-call]
            TLS12_CIPHERS
        ),
    )


class StorageNodeService(MultiService):
    """One storage node, a ``MultiService`` whose children start once it serves.

    ``startService()`` starts it in the background (``started`` fires when it
    listens, or fails with the reason, after undoing what had started);
    ``stopService()`` returns a Deferred that fires once it has stopped. The
    coroutines ``start()`` and ``stop()`` do the same for callers that await.
    """

    started: Deferred[None]

    def __init__(
        self,
        node: NodeDirectory,
        reactor: Any,
        *,
        backend_factory: BackendFactory = _default_backend_factory,
        resource_factory: ResourceFactory = _default_resource_factory,
        lease_view_factory: LeaseViewFactory = _default_lease_view_factory,
        lease_checker_options: dict[str, float] | None = None,
    ) -> None:
        """``lease_checker_options``: ``ExpiryCycleRunner`` keyword arguments (timing)."""
        self.node = node
        self._reactor = reactor
        self._backend_factory = backend_factory
        self._resource_factory = resource_factory
        self._lease_view_factory = lease_view_factory
        self._lease_checker_options = dict(lease_checker_options or {})
        self.server: StorageServer | None = None
        self.connections: ConnectionLimit | None = None
        self._ports: list[IListeningPort] = []
        self._children_started = False
        super().__init__()  # type: ignore[no-untyped-call]

    def startService(self) -> None:
        """Start in the background: children only once the node serves (see ``start``)."""
        Service.startService(self)  # type: ignore[no-untyped-call]
        self.started = Deferred.fromCoroutine(self._start())

    def stopService(self) -> Deferred[None]:
        """Stop the children, the listeners and the server; the Deferred fires when done."""
        Service.stopService(self)  # type: ignore[no-untyped-call]
        return Deferred.fromCoroutine(self._stop())

    def _check_config(self) -> tuple[str, str | None]:
        config = self.node.config
        if not config.storage.enabled:
            raise config.error("storage", "enabled", "storage is disabled; nothing to serve")
        storage_endpoint = self.node.listen_endpoint
        lease_view = config.get(LEASE_VIEW_SECTION, LEASE_VIEW_KEY)
        if lease_view is not None and not _LOOPBACK_ENDPOINT.match(lease_view):
            raise config.error(
                LEASE_VIEW_SECTION,
                LEASE_VIEW_KEY,
                "the test-only lease view listens only on loopback: tcp:PORT:interface=127.0.0.1",
            )
        if config.get_bool(LEASE_VIEW_SECTION, FAKE_CLOCK_KEY, False) and lease_view is None:
            raise config.error(
                LEASE_VIEW_SECTION, FAKE_CLOCK_KEY, f"needs [{LEASE_VIEW_SECTION}] {LEASE_VIEW_KEY}"
            )
        return storage_endpoint, lease_view

    def _endpoint(self, description: str, section: str, key: str) -> Any:
        try:
            return serverFromString(self._reactor, description)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError, KeyError) as e:
            raise self.node.config.error(
                section, key, f"not a listening endpoint ({e.__class__.__name__}: {e})"
            ) from None

    async def start(self) -> None:
        """``startService`` and wait: raises ConfigError, listen errors or a child's error."""
        self.startService()
        await self.started

    async def stop(self) -> None:
        """``stopService`` and wait. Idempotent."""
        await self.stopService()

    async def _start(self) -> None:
        try:
            await self._serve()
        except BaseException:
            # Undo what started (a backend's start may have opened connections),
            # keeping the start's own error for the caller.
            try:
                await self._stop()
            except Exception:  # noqa: BLE001 - the start's error is the one to report
                _log.failure("while stopping the storage node after a failed start")
            Service.stopService(self)  # type: ignore[no-untyped-call]
            raise
        _log.info(
            "storage node serving on {endpoint} with the {backend} backend",
            endpoint=self.node.listen_endpoint,
            backend=self.node.config.storage.backend,
        )

    async def _serve(self) -> None:
        storage_endpoint, lease_view = self._check_config()
        endpoint = self._endpoint(storage_endpoint, "node", "tub.port")
        lease_endpoint = (
            self._endpoint(lease_view, LEASE_VIEW_SECTION, LEASE_VIEW_KEY) if lease_view else None
        )
        backend = self._backend_factory(self.node.config)
        clock: IReactorTime = self._reactor
        test_clock: Clock | None = None
        if self.node.config.get_bool(LEASE_VIEW_SECTION, FAKE_CLOCK_KEY, False):
            test_clock = Clock()
            test_clock.advance(self._reactor.seconds())
            clock = test_clock
            _log.warn("test-only fake clock: time on this server moves only when a test says so")
        self.server = StorageServer(
            backend,
            nodeid=self.node.identity.tub_id,
            clock=clock,
            readonly=self.node.config.storage.readonly,
            maximum_mutable_share_size=(
                self.node.config.storage.maximum_mutable_share_size
                or DEFAULT_MAXIMUM_MUTABLE_SHARE_SIZE
            ),
        )
        await self.server.start()
        swissnum = self.node.identity.swissnum.encode("ascii")
        limits = Limits.for_server(self.server.maximum_mutable_share_size)
        site = _site(self._resource_factory(self.server, swissnum), limits)
        tls = TLSMemoryBIOFactory(tls_options(self.node), False, site)
        cap = self.node.config.storage.max_connections
        ensure_file_limit(cap)
        self.connections = ConnectionLimit(tls, cap)
        self._ports.append(await endpoint.listen(self.connections))
        if lease_endpoint is not None:
            view = _site(self._lease_view_factory(self.server, swissnum, test_clock), limits)
            self._ports.append(await lease_endpoint.listen(view))
            _log.warn("test-only lease view listening on {endpoint}", endpoint=lease_view)
        self._children_started = True
        for child in self:
            child.startService()
        self._add_lease_checker(backend)

    def _add_lease_checker(self, backend: IStorageBackend) -> None:
        # Added last, so started last and stopped first; adding a child to a
        # running MultiService starts it.
        assert self.server is not None
        if not self.node.config.storage.expire.enabled:
            # Report-only cycles are not free on an object store (a LIST and a
            # GET per storage index): an operator turns them on with expiry.
            _log.info("lease checker off: expire.enabled is false in [storage]")
            return
        if not IShareEnumeration.providedBy(backend):
            _log.info(
                "the lease checker cannot run on the {backend} backend: it cannot list its"
                " storage indexes (no IShareEnumeration); no lease expiry report is made",
                backend=self.node.config.storage.backend,
            )
            return
        # The node grants upstream's default lease duration (StorageServer's).
        policy = ExpiryPolicy.from_settings(self.node.config.storage.expire)
        runner = ExpiryCycleRunner(
            self.server,
            backend,
            policy,
            state_path(self.node.config.nodedir),
            self._reactor,
            **self._lease_checker_options,
        )
        LeaseCheckerService(runner).setServiceParent(self)  # type: ignore[no-untyped-call]
        _log.info(
            "lease checker running in report-only mode (nothing is deleted); state in {path}",
            path=str(runner.state_path),
        )

    async def _stop(self) -> None:
        """Stop the children, stop listening, then stop the server (aborting in-flight uploads).

        Idempotent, and safe while ``_start`` is still running (a signal at
        start-up): it stops what has started so far.
        """
        if self._children_started:
            self._children_started = False
            for child in reversed(list(self)):
                stopped = child.stopService()
                if stopped is not None:
                    await stopped
        ports, self._ports = self._ports, []
        for port in ports:
            stopped = port.stopListening()
            if stopped is not None:
                await stopped
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
            _log.info("storage node stopped")


def _site(resource: IResource, limits: Limits) -> Site:
    # The front end's Site bounds request bodies, hides tracebacks and keeps
    # twisted.web's access log (a second, unfiltered request log) quiet.
    return storage_site(resource, limits=limits)
