"""``tahoe-cloud create-node``: a new node directory with a fresh identity.

It writes ``tahoe.cfg`` the way upstream nodes write their ``[node]`` section
(``tub.port`` is a Twisted endpoint string, ``tub.location`` the hints clients
dial) and ``private/`` (0700) holding the TLS key, certificate and swissnum
(each 0600, created with that mode). An existing node directory is never
touched: its identity is what clients know the server by.

A backend whose plugin provides ``INodeCreationOptions`` adds its own
options (a bucket and credentials, say); with ``--backend`` naming it, they become
``[storage]`` keys and files in ``private/`` (each 0600), all checked before
the directory is created. Giving one backend's options with another
``--backend`` is an error naming the option.
"""

from __future__ import annotations

import argparse
import errno
import random
import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from tahoe_cloud.backends.capabilities import (
    IContainerCreation,
    INodeCreationOptions,
    IPreflightCheck,
    NodeSettings,
)
from tahoe_cloud.backends.plugin import BackendPlugin
from tahoe_cloud.backends.registry import NoSuchBackend, find_plugin, installed_plugins
from tahoe_cloud.errors import TahoeCloudError
from tahoe_cloud.node.identity import (
    CERTIFICATE_FILE,
    KEY_FILE,
    SWISSNUM_FILE,
    create_identity,
    write_identity,
    write_private_file,
)

NAME = "create-node"
HELP = "Create a new storage node directory (configuration and private identity)."

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_BACKEND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# A backend's files go in private/ beside the identity, never over it or elsewhere.
_PRIVATE_NAME = _BACKEND_NAME
_IDENTITY_FILES = frozenset({KEY_FILE, CERTIFICATE_FILE, SWISSNUM_FILE})
# Below 32768: the kernel's ephemeral range starts there, and a port chosen in
# it can be taken by any outgoing connection before the node starts.
_PORT_RANGE = (10000, 32767)


class NodeDirExists(TahoeCloudError):
    """The target directory already holds something; it is never overwritten."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nickname", default="", help="a name for this server, shown to clients")
    parser.add_argument(
        "--hostname",
        default="127.0.0.1",
        help="host name or IP address clients connect to (default 127.0.0.1: loopback only)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="TCP port to listen on (default: a free port)"
    )
    parser.add_argument("--backend", default="disk", help="share storage backend (default: disk)")
    options: list[tuple[BackendPlugin, Sequence[argparse.Action]]] = []
    for plugin in installed_plugins():
        if INodeCreationOptions.providedBy(plugin.capabilities):
            creation = INodeCreationOptions(plugin.capabilities)
            group = parser.add_argument_group(
                f"{plugin.name} backend (with --backend {plugin.name})", creation.description
            )
            try:
                options.append((plugin, creation.add_arguments(group)))
            except argparse.ArgumentError:
                continue  # an option another backend already has: leave this one out
    parser.set_defaults(backend_options=options)
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port in 10000..32767 nobody listens on right now."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(*_PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    continue
                raise
            return port
    raise TahoeCloudError("no free TCP port found in 10000..32767")


def render_config(
    *, nickname: str, hostname: str, port: int, backend: str, storage_lines: str = ""
) -> str:
    """The text of a new node's ``tahoe.cfg``."""
    # A loopback node listens only on loopback; any other name means clients
    # come from elsewhere, so listen on every interface, as upstream does.
    listen = f"tcp:{port}:interface=127.0.0.1" if hostname in _LOOPBACK else f"tcp:{port}"
    location_host = "127.0.0.1" if hostname == "localhost" else hostname
    return (
        "# tahoe-cloud storage node configuration (same syntax as Tahoe-LAFS's tahoe.cfg).\n"
        "\n"
        "[node]\n"
        f"nickname = {nickname}\n"
        "# Where to listen (a Twisted endpoint) and where clients connect.\n"
        f"tub.port = {listen}\n"
        f"tub.location = tcp:{location_host}:{port}\n"
        "\n"
        "[storage]\n"
        "enabled = true\n"
        f"backend = {backend}\n" + storage_lines
    )


def _check_arguments(args: argparse.Namespace) -> None:
    if "\n" in args.nickname or "\r" in args.nickname:
        raise TahoeCloudError("the nickname must be one line")
    if not re.fullmatch(r"[A-Za-z0-9.-]+|\[?[0-9a-fA-F:]+\]?", args.hostname):
        raise TahoeCloudError(f"not a host name or IP address: {args.hostname!r}")
    if ":" in args.hostname:
        raise TahoeCloudError("IPv6 addresses are not supported in NURLs yet; use a host name")
    if args.port is not None and not 0 < args.port < 65536:
        raise TahoeCloudError(f"not a TCP port: {args.port}")
    if not _BACKEND_NAME.match(args.backend):
        raise TahoeCloudError(f"not a backend name: {args.backend!r}")


def _backend_settings(args: argparse.Namespace) -> tuple[NodeSettings, object]:
    """What ``--backend`` writes besides its name, and its capabilities (None if unregistered).

    Everything is checked before the node directory is created, so a mistake
    leaves nothing behind.
    """
    options: list[tuple[BackendPlugin, Sequence[argparse.Action]]] = args.backend_options
    for plugin, actions in options:
        if plugin.name == args.backend:
            continue
        for action in actions:
            if getattr(args, action.dest, action.default) != action.default:
                raise TahoeCloudError(
                    f"{action.option_strings[0]} applies only with --backend {plugin.name}"
                )
    try:
        capabilities = find_plugin(args.backend).capabilities
    except NoSuchBackend:
        return NodeSettings(), None  # one to install before the node first runs
    if not INodeCreationOptions.providedBy(capabilities):
        return NodeSettings(), capabilities
    settings = INodeCreationOptions(capabilities).node_settings(args)
    for name in settings.private_files:
        if not _PRIVATE_NAME.match(name) or name in _IDENTITY_FILES:
            raise TahoeCloudError(f"backend {args.backend!r} asks for a bad private file {name!r}")
    return settings, capabilities


def create(
    nodedir: Path,
    *,
    nickname: str,
    hostname: str,
    port: int,
    backend: str,
    storage_lines: str = "",
    private_files: Mapping[str, str] | None = None,
) -> None:
    """Create the node directory; refuses one that exists and is not empty."""
    if nodedir.exists() and (not nodedir.is_dir() or any(nodedir.iterdir())):
        raise NodeDirExists(f"{nodedir} already exists; refusing to overwrite a node directory")
    nodedir.mkdir(parents=True, exist_ok=True)
    write_identity(nodedir / "private", create_identity())
    for name, text in (private_files or {}).items():
        write_private_file(nodedir / "private" / name, text.encode("utf-8"))
    (nodedir / "tahoe.cfg").write_text(
        render_config(
            nickname=nickname,
            hostname=hostname,
            port=port,
            backend=backend,
            storage_lines=storage_lines,
        ),
        encoding="utf-8",
    )


def main(args: argparse.Namespace) -> int:
    _check_arguments(args)
    settings, capabilities = _backend_settings(args)
    port = args.port if args.port is not None else find_free_port()
    nodedir: Path = args.nodedir.expanduser().absolute()
    create(
        nodedir,
        nickname=args.nickname,
        hostname=args.hostname,
        port=port,
        backend=args.backend,
        storage_lines=settings.storage_lines,
        private_files=settings.private_files,
    )
    print(f"Node created in {nodedir}")
    if IPreflightCheck.providedBy(capabilities):
        subject = IPreflightCheck(capabilities).subject
        print(f"Check {subject} with: tahoe-cloud check {nodedir}")
        if IContainerCreation.providedBy(capabilities):
            container = IContainerCreation(capabilities).container
            print(f"(Create {container} first if needed: tahoe-cloud create-container {nodedir})")
    print(f"Start it with: tahoe-cloud run {nodedir}")
    print(f"Give clients its entry from: tahoe-cloud announcement {nodedir}")
    return 0
