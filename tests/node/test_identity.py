"""Identity, NURLs and the announcement: formats a stock client accepts."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tahoe_cloud.errors import ConfigError
from tahoe_cloud.node.announcement import Announcement
from tahoe_cloud.node.identity import (
    NodeIdentity,
    create_identity,
    load_identity,
    self_signed_certificate,
    spki_hash,
    write_identity,
)
from tahoe_cloud.node.nurl import LocationHint, build_nurl, parse_location
from tahoe_cloud.vocabulary import b32decode


def test_spki_hash_is_43_chars_of_urlsafe_sha256_over_spki() -> None:
    identity = create_identity()
    der = identity.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert identity.spki_hash == expected
    assert len(identity.spki_hash) == 43


def test_rsa_keys_work_too() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    identity = NodeIdentity.from_key(key, self_signed_certificate(key), "a" * 32)
    assert len(spki_hash(identity.certificate)) == 43


def test_derived_ids_are_stable_distinct_and_well_formed() -> None:
    one, two = create_identity(), create_identity()
    assert one.tub_id != two.tub_id
    assert len(one.tub_id) == 20
    assert re.fullmatch(r"[a-z2-7]{32}", one.tub_id_text)
    assert b32decode(one.tub_id_text) == one.tub_id
    assert re.fullmatch(r"v0-[a-z2-7]{52}", one.server_id)
    assert b32decode(one.permutation_seed_base32) == one.permutation_seed
    # Same key, new certificate: same ids (they come from the key).
    again = NodeIdentity.from_key(
        one.private_key, self_signed_certificate(one.private_key), one.swissnum
    )
    assert (again.tub_id, again.server_id) == (one.tub_id, one.server_id)


def test_repr_hides_secrets() -> None:
    identity = create_identity()
    text = repr(identity)
    assert identity.swissnum not in text
    assert "PRIVATE" not in text


def test_write_and_load_round_trip_with_private_modes(tmp_path: Path) -> None:
    identity = create_identity()
    private = tmp_path / "private"
    write_identity(private, identity)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    for f in private.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    loaded = load_identity(private)
    assert loaded.spki_hash == identity.spki_hash
    assert loaded.swissnum == identity.swissnum
    assert loaded.tub_id == identity.tub_id
    with pytest.raises(FileExistsError):
        write_identity(private, create_identity())


def test_load_reports_the_bad_file_without_quoting_it(tmp_path: Path) -> None:
    private = tmp_path / "private"
    write_identity(private, create_identity())
    (private / "node.key").write_text("garbage secret-looking-content\n")
    with pytest.raises(ConfigError) as e:
        load_identity(private)
    assert "node.key" in str(e.value)
    assert "secret-looking" not in str(e.value)


def test_mismatched_certificate_is_refused(tmp_path: Path) -> None:
    private = tmp_path / "private"
    write_identity(private, create_identity())
    other = create_identity()
    (private / "node.crt").write_bytes(other.certificate_pem())
    with pytest.raises(ConfigError, match="does not match"):
        load_identity(private)


def test_nurl_format() -> None:
    hint = LocationHint("127.0.0.1", 1234)
    nurl = build_nurl("x" * 43, hint, "swiss")
    assert nurl == "pb://" + "x" * 43 + "@127.0.0.1:1234/swiss#v=1"
    assert build_nurl("h", LocationHint("abc.onion", 80, tor=True), "s").startswith("pb+tor://")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("tcp:127.0.0.1:3457", [LocationHint("127.0.0.1", 3457)]),
        ("example.org:99", [LocationHint("example.org", 99)]),
        (
            "tcp:a.example:1, tcp:b.example:2,i2p:x.i2p",
            [LocationHint("a.example", 1), LocationHint("b.example", 2)],
        ),
        ("tor:abc.onion:80", [LocationHint("abc.onion", 80, tor=True)]),
    ],
)
def test_parse_location(location: str, expected: list[LocationHint]) -> None:
    assert list(parse_location(location, path="tahoe.cfg")) == expected


@pytest.mark.parametrize(
    "location",
    ["AUTO", "", "tcp:host", "tcp:host:0", "tcp:host:99999", "udp:h:1", "tor:plain:1", "tcp:a b:1"],
)
def test_bad_locations_are_config_errors(location: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_location(location, path="/n/tahoe.cfg")
    assert "tub.location" in str(e.value) and "/n/tahoe.cfg" in str(e.value)


def test_announcement_yaml_parses_and_quotes_the_nurl() -> None:
    identity = create_identity()
    nurl = build_nurl(identity.spki_hash, LocationHint("127.0.0.1", 5), identity.swissnum)
    ann = Announcement.for_node(identity, 'odd: "nick" #1', [nurl])
    text = ann.to_yaml()
    assert f'"{nurl}"' in text
    parsed = yaml.safe_load("storage:\n" + text)
    entry = parsed["storage"][identity.server_id]["ann"]
    assert entry == ann.as_dict()
    assert entry["nickname"] == 'odd: "nick" #1'
    assert entry["anonymous-storage-NURLs"] == [nurl]
    furl = entry["anonymous-storage-FURL"]
    assert re.fullmatch(r"pb://[a-z2-7]{32}@tcp:127\.0\.0\.1:9/unused", furl)
    assert furl[5:37] == identity.tub_id_text
    # Also parses on its own (an indented root mapping).
    assert yaml.safe_load(text) == parsed["storage"]


def test_a_readable_private_key_is_loaded_with_a_warning(tmp_path: Path) -> None:
    from twisted.logger import globalLogPublisher

    private = tmp_path / "private"
    write_identity(private, create_identity())
    (private / "node.key").chmod(0o644)
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)  # type: ignore[arg-type]
    try:
        load_identity(private)
    finally:
        globalLogPublisher.removeObserver(events.append)  # type: ignore[arg-type]
    warnings = [e for e in events if "node.key" in str(e.get("path"))]
    assert warnings and warnings[0]["mode"] == "0644"
