"""Serving an upstream Tahoe-LAFS node directory with the same identity.

An upstream storage node keeps its identity in files it wrote at first start:

* ``private/node.pem``: the Foolscap tub's certificate and private key, one
  PEM file. The HTTP storage server presents this certificate, so the SPKI
  hash in the NURL comes from it.
* ``private/storage.furl``: ``pb://<tub id>@<hints>/<swissnum>``. The tub id is
  what clients mix into lease secrets and write enablers, and the swissnum
  is also the HTTP bearer secret. Both MUST be kept, or clients could no
  longer renew leases or modify the mutable files stored here.
* ``node.pubkey`` (``pub-v0-<base32>``): the node's ed25519 key; the server id
  clients know it by is ``v0-<base32>``.
* ``permutation-seed``: the seed placing it on the permuted ring.

Keeping all of them means clients see the same server, at the same NURL, and
find their shares where upstream stored them (the disk backend reads
upstream's ``storage/`` layout as is).
"""

from __future__ import annotations

import re
from pathlib import Path

from tahoe_cloud.errors import ConfigError
from tahoe_cloud.node.identity import (
    TUB_ID_BYTES,
    NodeIdentity,
    load_certificate,
    load_private_key,
    read_private_bytes,
    validate_swissnum_text,
)
from tahoe_cloud.vocabulary import b32decode

NODE_PEM = "node.pem"
STORAGE_FURL = "storage.furl"

_FURL = re.compile(r"pb://([a-z2-7]+)@[^/]*/([a-z2-7]+)\Z")
_PUBKEY = re.compile(r"pub-v0-([a-z2-7]{52})\Z")


def is_upstream_node_dir(nodedir: Path) -> bool:
    """True when ``nodedir`` holds an upstream node's identity files."""
    return (nodedir / "private" / NODE_PEM).is_file() and (
        nodedir / "private" / STORAGE_FURL
    ).is_file()


def _read_text(path: Path) -> str:
    try:
        return path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        problem = e.strerror if isinstance(e, OSError) else "not ASCII text"
        raise ConfigError(str(path), None, None, f"cannot read: {problem}") from None


def _read_optional(path: Path) -> str | None:
    return _read_text(path) if path.exists() else None


def load_upstream_identity(nodedir: Path) -> NodeIdentity:
    """The identity of the upstream node in ``nodedir``, exactly as its clients know it."""
    private = nodedir / "private"
    pem_path = private / NODE_PEM
    pem = read_private_bytes(pem_path)
    key = load_private_key(pem_path, pem)
    certificate = load_certificate(pem_path, pem, key)

    furl_path = private / STORAGE_FURL
    match = _FURL.match(_read_text(furl_path))
    if match is None:
        # Do not quote the file: it holds the swissnum.
        raise ConfigError(str(furl_path), None, None, "not a storage FURL (pb://TUBID@HINTS/NAME)")
    tub_id = b32decode(match.group(1))
    if len(tub_id) != TUB_ID_BYTES:
        raise ConfigError(str(furl_path), None, None, "the tub id is not 20 bytes")
    swissnum = validate_swissnum_text(furl_path, match.group(2))

    pubkey_path = nodedir / "node.pubkey"
    pubkey = _read_optional(pubkey_path)
    # Clients key their server list by the announcement's server id; upstream
    # uses "v0-<pubkey>" and falls back to the tub id for very old nodes.
    server_key: bytes | None = None
    server_id = match.group(1)
    if pubkey is not None:
        m = _PUBKEY.match(pubkey)
        if m is None:
            raise ConfigError(str(pubkey_path), None, None, "not an upstream node public key")
        server_key = b32decode(m.group(1))
        server_id = "v0-" + m.group(1)

    seed_path = nodedir / "permutation-seed"
    seed_text = _read_optional(seed_path)
    if seed_text:
        try:
            seed = b32decode(seed_text)
        except ValueError:
            raise ConfigError(str(seed_path), None, None, "not base32") from None
    elif server_key is not None:
        # What upstream itself would choose for a node without a recorded seed
        # whose clients identify it by its public key.
        seed = server_key
    else:
        seed = tub_id

    return NodeIdentity(
        private_key=key,
        certificate=certificate,
        swissnum=swissnum,
        tub_id=tub_id,
        server_id=server_id,
        permutation_seed=seed,
    )
