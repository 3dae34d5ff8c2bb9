"""``tahoe-cloud create-node``: a new node directory with a fresh identity.

It writes ``tahoe.cfg`` the way upstream nodes write their ``[node]`` section
(``tub.port`` is a Twisted endpoint string, ``tub.location`` the hints clients
dial) and ``private/`` (0700) holding the TLS key, certificate and swissnum
(each 0600, created with that mode). An existing node directory is never
touched: its identity is what clients know the server by.

With ``--backend cloud.s3`` it also writes the ``s3.*`` keys and stores the
secret access key in ``private/s3secret`` (0600). The secret is read from
``--s3-secret-file`` or standard input, never from the command line, where
other users could see it in the process list and shells keep it in history.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import random
import re
import socket
import sys
from pathlib import Path

from tahoe_cloud.errors import TahoeCloudError
from tahoe_cloud.node.identity import create_identity, write_identity

NAME = "create-node"
HELP = "Create a new storage node directory (configuration and private identity)."

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_BACKEND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
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
    s3 = parser.add_argument_group("cloud.s3 backend (with --backend cloud.s3; see docs/s3.md)")
    s3.add_argument("--s3-bucket", metavar="B", help="bucket name (required)")
    s3.add_argument("--s3-access-key-id", metavar="K", help="access key id (required)")
    s3.add_argument("--s3-url", metavar="U", help="service URL (default https://s3.amazonaws.com)")
    s3.add_argument("--s3-region", metavar="R", help="region (default us-east-1)")
    s3.add_argument("--s3-prefix", metavar="P", help="key prefix inside the bucket (default none)")
    s3.add_argument(
        "--s3-secret-file",
        metavar="F",
        type=Path,
        help="file holding the secret access key (default: read it from standard input)",
    )
    parser.add_argument("nodedir", type=Path, metavar="NODEDIR")


_S3_OPTIONS = (
    "s3_bucket",
    "s3_access_key_id",
    "s3_url",
    "s3_region",
    "s3_prefix",
    "s3_secret_file",
)


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


def _s3_settings(args: argparse.Namespace) -> tuple[str, str] | None:
    """The ``s3.*`` lines and the secret for ``--backend cloud.s3``; None for other backends.

    Everything is checked before the node directory is created, so a mistake
    leaves nothing behind.
    """
    if args.backend != "cloud.s3":
        given = [o for o in _S3_OPTIONS if getattr(args, o, None) is not None]
        if given:
            option = "--" + given[0].replace("_", "-")
            raise TahoeCloudError(f"{option} applies only with --backend cloud.s3")
        return None
    from tahoe_cloud.backends.s3.config import render_storage_lines

    for option in ("s3_bucket", "s3_access_key_id"):
        if not getattr(args, option):
            flag = "--" + option.replace("_", "-")
            raise TahoeCloudError(f"{flag} is required with --backend cloud.s3")
    try:
        lines = render_storage_lines(
            bucket=args.s3_bucket,
            access_key_id=args.s3_access_key_id,
            url=args.s3_url,
            region=args.s3_region,
            prefix=args.s3_prefix,
        )
    except ValueError as e:
        raise TahoeCloudError(str(e)) from None
    secret = _read_secret(args.s3_secret_file)
    if not secret or "\n" in secret or "\r" in secret:
        where = args.s3_secret_file or "standard input"
        raise TahoeCloudError(f"--s3-secret-file: {where} must hold the secret as one line")
    return lines, secret


def _read_secret(path: Path | None) -> str:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise TahoeCloudError(f"--s3-secret-file: cannot read {path} ({e})") from None
    if sys.stdin is None:
        raise TahoeCloudError("--s3-secret-file: no file given and no standard input to read")
    if sys.stdin.isatty():
        return getpass.getpass("S3 secret access key (not echoed): ").strip()
    return sys.stdin.readline().strip()


def create(
    nodedir: Path,
    *,
    nickname: str,
    hostname: str,
    port: int,
    backend: str,
    storage_lines: str = "",
    s3_secret: str | None = None,
) -> None:
    """Create the node directory; refuses one that exists and is not empty."""
    if nodedir.exists() and (not nodedir.is_dir() or any(nodedir.iterdir())):
        raise NodeDirExists(f"{nodedir} already exists; refusing to overwrite a node directory")
    nodedir.mkdir(parents=True, exist_ok=True)
    write_identity(nodedir / "private", create_identity())
    if s3_secret is not None:
        from tahoe_cloud.backends.s3.config import write_secret

        write_secret(nodedir, s3_secret)
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
    s3 = _s3_settings(args)
    port = args.port if args.port is not None else find_free_port()
    nodedir: Path = args.nodedir.expanduser().absolute()
    create(
        nodedir,
        nickname=args.nickname,
        hostname=args.hostname,
        port=port,
        backend=args.backend,
        storage_lines=s3[0] if s3 else "",
        s3_secret=s3[1] if s3 else None,
    )
    print(f"Node created in {nodedir}")
    if s3 is not None:
        print(f"Check the S3 settings with: tahoe-cloud check {nodedir}")
        print(f"(Create the bucket first if needed: tahoe-cloud create-container {nodedir})")
    print(f"Start it with: tahoe-cloud run {nodedir}")
    print(f"Give clients its entry from: tahoe-cloud announcement {nodedir}")
    return 0
