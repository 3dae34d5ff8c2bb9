"""NURLs and location hints: how clients are told where the node listens.

``[node] tub.location`` holds comma-separated connection hints, as upstream
nodes write them: ``tcp:HOST:PORT`` (or the legacy bare ``HOST:PORT``) and
``tor:ONION:PORT``. Each usable hint gives one NURL:
``pb://<spki-hash>@<host>:<port>/<swissnum>#v=1`` (``pb+tor://`` for onion
addresses). The stock client rejects the ``tcp:host:port`` form inside a NURL,
so hints are always rewritten as ``host:port``. ``i2p:`` hints are skipped, as
upstream does: the HTTP client cannot use them yet. ``AUTO`` (upstream's "every
local address") is refused: an operator must say where clients can reach the
node.
"""

from __future__ import annotations

import re
from pathlib import Path

from attrs import frozen

from tahoe_cloud.errors import ConfigError

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z")


@frozen
class LocationHint:
    """One place a client can connect to."""

    host: str
    port: int
    tor: bool = False


def parse_location(location: str, *, path: str) -> tuple[LocationHint, ...]:
    """Parse ``tub.location``; errors are ConfigErrors naming ``path`` and the key."""

    def bad(problem: str) -> ConfigError:
        return ConfigError(path, "node", "tub.location", problem)

    hints: list[LocationHint] = []
    for raw in location.split(","):
        hint = raw.strip()
        if not hint:
            continue
        if hint == "AUTO":
            raise bad("AUTO is not supported: list the addresses clients can reach")
        parts = hint.split(":")
        if parts[0] == "i2p":
            continue
        if len(parts) == 2:
            parts = ["tcp", *parts]
        if len(parts) != 3 or parts[0] not in ("tcp", "tor"):
            raise bad(f"cannot use the hint {hint!r} (expected tcp:HOST:PORT)")
        scheme, host, port_text = parts
        if not _HOST.match(host):
            raise bad(f"bad host name in the hint {hint!r}")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise bad(f"bad port in the hint {hint!r}")
        if scheme == "tor" and not host.endswith(".onion"):
            raise bad(f"a tor hint needs an .onion address: {hint!r}")
        hints.append(LocationHint(host, int(port_text), tor=scheme == "tor"))
    if not hints:
        raise bad("no usable connection hint (expected tcp:HOST:PORT)")
    return tuple(hints)


def build_nurl(spki_hash: str, hint: LocationHint, swissnum: str) -> str:
    """The NURL a client uses to reach this node through ``hint``."""
    scheme = "pb+tor" if hint.tor else "pb"
    return f"{scheme}://{spki_hash}@{hint.host}:{hint.port}/{swissnum}#v=1"


def hide_swissnum(nurl: str, nodedir: Path) -> str:
    """``nurl`` with its swissnum replaced by a pointer to ``tahoe-cloud nurl``, for logs."""
    head, _, rest = nurl.rpartition("/")
    _, _, fragment = rest.partition("#")
    return f"{head}/<swissnum: see 'tahoe-cloud nurl {nodedir}'>#{fragment}"
