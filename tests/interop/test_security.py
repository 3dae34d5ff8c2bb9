"""Security over real TLS with upstream's own HTTP client, and no secret in any log.

A live ``tahoe-cloud run`` node (memory backend) is probed by
``upstream_scripts/http_probe.py`` running in the upstream virtualenv:

- a NURL with a wrong SPKI hash: the client refuses the server;
- a wrong swissnum: 401 over TLS;
- a full exercise with secrets chosen here (lease, upload, write enabler).

Then every file the node wrote at ``[logging] level = debug`` (its
stdout/stderr capture and NODEDIR/logs/) is scanned for the swissnum and
those secrets, in every encoding they could take (raw, hex, base32, base64,
urlsafe base64). The only place the swissnum
may appear is the ``NURL:`` line ``run`` prints on stdout on purpose.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tahoe_cloud.vocabulary import b32encode
from tests.support.stock_client import CloudNode
from tests.support.upstream import run_upstream_python

pytestmark = [pytest.mark.upstream]

PROBE = Path(__file__).parent / "upstream_scripts" / "http_probe.py"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudNode]:
    node = CloudNode(tmp_path_factory.mktemp("sec") / "node", backend="memory")
    # The most verbose level the node has: every request gets its own line.
    with (node.nodedir / "tahoe.cfg").open("a") as cfg:
        cfg.write("\n[logging]\nlevel = debug\n")
    node.start()
    try:
        yield node
    finally:
        if node.process is not None and node.process.running():
            node.stop()


def probe(node: CloudNode, mode: str, secrets: dict[str, bytes] | None = None) -> str:
    request = {
        "mode": mode,
        "nurl": node.announcement_nurl(),
        "secrets": {k: v.hex() for k, v in (secrets or {}).items()},
    }
    return run_upstream_python(PROBE, input=json.dumps(request), timeout=60).stdout.strip()


def test_wrong_spki_hash_is_refused_by_the_client(node: CloudNode) -> None:
    assert probe(node, "wrong-spki").startswith("refused")


def test_wrong_swissnum_is_401_over_tls(node: CloudNode) -> None:
    assert probe(node, "wrong-swissnum") == "401"


SECRETS = {
    "storage_index": os.urandom(16),
    "mutable_index": os.urandom(16),
    "upload": os.urandom(20),
    "renew": os.urandom(32),
    "cancel": os.urandom(32),
    "renew2": os.urandom(32),
    "cancel2": os.urandom(32),
    "write_enabler": os.urandom(32),
}


def test_upstream_client_exercise_over_tls(node: CloudNode) -> None:
    assert probe(node, "exercise", SECRETS) == "ok"


def _spellings(secret: bytes) -> set[bytes]:
    """The forms a secret could take in a log line."""
    return {
        secret,
        secret.hex().encode(),
        b32encode(secret).encode(),
        base64.b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        repr(secret).encode(),
    }


def test_no_secret_in_any_log(node: CloudNode) -> None:
    # Runs after the probes above (file order); stop the node so logs are complete.
    assert node.stop() == 0
    swissnum = (node.nodedir / "private" / "swissnum").read_text().strip().encode()
    forbidden: set[bytes] = {swissnum, base64.b64encode(swissnum)}
    for name, value in SECRETS.items():
        if name not in ("storage_index", "mutable_index"):
            forbidden |= _spellings(value)
    files = node.output_files()
    logs = [f for f in files if f.parent.name == "logs"]
    assert logs and b"PATCH /storage/v1/immutable/" in logs[0].read_bytes()
    scanned = 0
    for path in files:
        content = path.read_bytes()
        scanned += len(content)
        for secret in forbidden:
            assert secret not in content, f"a secret appears in {path}"
    assert scanned > 0
