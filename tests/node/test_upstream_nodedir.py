"""Reading an upstream node directory's identity (files laid out as upstream writes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tahoe_cloud.errors import ConfigError
from tahoe_cloud.node.identity import create_identity
from tahoe_cloud.node.nodedir import open_node_directory
from tahoe_cloud.node.upstream import is_upstream_node_dir, load_upstream_identity
from tahoe_cloud.vocabulary import b32encode

TUB_ID = "zyqhtgptivtt6bcnpt6yyaxpd3wdyhqo"
SWISSNUM = "kl4hwpnsqn4snbedbmy366vopoc6fgdg"
PUBKEY = "urdzlzz6qnceaztokyp67nptraz3lhswah6lu5ccwmnv2abxvupa"
# Upstream writes the permutation seed as base32 of the base32 text of its key.
SEED = b32encode(PUBKEY.encode("ascii"))


def make_upstream_nodedir(path: Path, *, seed: bool = True, pubkey: bool = True) -> bytes:
    """An upstream-shaped node directory; returns the certificate PEM it holds."""
    identity = create_identity()
    private = path / "private"
    private.mkdir(parents=True)
    cert_pem = identity.certificate_pem()
    # Foolscap writes the certificate first, then the key, in one file.
    (private / "node.pem").write_bytes(cert_pem + identity.private_key_pem())
    (private / "storage.furl").write_text(f"pb://{TUB_ID}@tcp:127.0.0.1:31401/{SWISSNUM}\n")
    if pubkey:
        (path / "node.pubkey").write_text(f"pub-v0-{PUBKEY}\n")
    if seed:
        (path / "permutation-seed").write_text(SEED + "\n")
    (path / "tahoe.cfg").write_text(
        "[node]\nnickname = up\nweb.port =\ntub.port = tcp:31401:interface=127.0.0.1\n"
        "tub.location = tcp:127.0.0.1:31401\n[client]\nshares.needed = 3\n"
        "[storage]\nenabled = true\nreserved_space = 1G\n"
    )
    return cert_pem


def test_identity_is_upstreams(tmp_path: Path) -> None:
    make_upstream_nodedir(tmp_path)
    assert is_upstream_node_dir(tmp_path)
    identity = load_upstream_identity(tmp_path)
    assert identity.tub_id_text == TUB_ID
    assert identity.swissnum == SWISSNUM
    assert identity.server_id == "v0-" + PUBKEY
    assert identity.permutation_seed_base32 == SEED


def test_nurl_and_announcement_keep_upstreams_identity(tmp_path: Path) -> None:
    make_upstream_nodedir(tmp_path)
    node = open_node_directory(tmp_path)
    assert node.upstream
    (nurl,) = node.nurls
    assert nurl == f"pb://{node.identity.spki_hash}@127.0.0.1:31401/{SWISSNUM}#v=1"
    ann = node.announcement.as_dict()
    assert ann["anonymous-storage-FURL"].startswith(f"pb://{TUB_ID}@")  # type: ignore[attr-defined]
    assert ann["permutation-seed-base32"] == SEED
    assert ann["nickname"] == "up"


def test_without_seed_file_the_seed_comes_from_the_public_key(tmp_path: Path) -> None:
    make_upstream_nodedir(tmp_path, seed=False)
    assert load_upstream_identity(tmp_path).permutation_seed_base32 == PUBKEY


def test_very_old_node_without_pubkey_uses_the_tub_id(tmp_path: Path) -> None:
    make_upstream_nodedir(tmp_path, seed=False, pubkey=False)
    identity = load_upstream_identity(tmp_path)
    assert identity.server_id == TUB_ID
    assert identity.permutation_seed_base32 == TUB_ID


def test_bad_furl_is_reported_without_its_content(tmp_path: Path) -> None:
    make_upstream_nodedir(tmp_path)
    (tmp_path / "private" / "storage.furl").write_text(f"garbage/{SWISSNUM}\n")
    with pytest.raises(ConfigError) as e:
        load_upstream_identity(tmp_path)
    assert "storage.furl" in str(e.value)
    assert SWISSNUM not in str(e.value)


def test_a_tahoe_cloud_nodedir_is_not_upstream(tmp_path: Path) -> None:
    assert not is_upstream_node_dir(tmp_path)
