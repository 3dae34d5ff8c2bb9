"""A storage node's identity: TLS key and certificate, swissnum, and the ids derived from the key.

A stock Tahoe-LAFS client reaches an HTTP storage server through its NURL,
``pb://<spki-hash>@<host>:<port>/<swissnum>#v=1``. The client authenticates the
server only by the SPKI hash (SHA-256 over the DER SubjectPublicKeyInfo of the
self-signed certificate, unpadded urlsafe base64: 43 characters), so the key
pair *is* the server's identity. The swissnum is the client's bearer secret.

The client also needs, from the announcement:

* a *tub id* (20 bytes, 32 base32 characters), which it mixes into the lease
  secrets and write enablers it sends. It must be stable for the life of the
  node (or clients could no longer renew leases or rewrite mutable shares) and
  unique per server (two servers with the same tub id would receive the same
  write enablers), so it is derived from this node's own public key;
* a *server id* and *permutation seed*, which place the server on each storage
  index's permuted ring. They too are derived from the public key.

Nodes created by ``tahoe-cloud create-node`` keep their identity in
``private/node.key``, ``private/node.crt`` and ``private/swissnum``. Upstream
Tahoe-LAFS node directories keep it elsewhere; :mod:`tahoe_cloud.node.upstream`
reads those.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import secrets
from pathlib import Path

from attrs import field, frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from twisted.logger import Logger

from tahoe_cloud.config.node import read_secret_file
from tahoe_cloud.errors import ConfigError
from tahoe_cloud.vocabulary import b32decode, b32encode

_log = Logger(namespace="tahoe_cloud.node")

TUB_ID_BYTES = 20
SWISSNUM_BYTES = 20
PERMUTATION_SEED_BYTES = 32

KEY_FILE = "node.key"
CERTIFICATE_FILE = "node.crt"
SWISSNUM_FILE = "swissnum"

# The client never checks expiry; a long validity only spares other TLS tools
# the warning. 2049 is safely below the UTCTime/GeneralizedTime switch.
_NOT_AFTER = datetime.datetime(2049, 12, 31, tzinfo=datetime.UTC)

# Domain-separation labels: each derived id hashes the public key under its
# own label, so no id can be computed from another.
_TUB_ID_LABEL = b"tahoe-cloud tub id v1\x00"
_SERVER_ID_LABEL = b"tahoe-cloud server id v1\x00"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def spki_der(certificate: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo of ``certificate``'s public key."""
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_hash(certificate: x509.Certificate) -> str:
    """The NURL's user part: unpadded urlsafe base64 of SHA-256 over the SPKI (43 chars)."""
    digest = hashlib.sha256(spki_der(certificate)).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def derive_tub_id(certificate: x509.Certificate) -> bytes:
    """A stable 20-byte tub id for a tahoe-cloud node, from its public key."""
    return hashlib.sha256(_TUB_ID_LABEL + spki_der(certificate)).digest()[:TUB_ID_BYTES]


def derive_permutation_seed(certificate: x509.Certificate) -> bytes:
    """A stable 32-byte permutation seed (and server id) for a tahoe-cloud node."""
    return hashlib.sha256(_SERVER_ID_LABEL + spki_der(certificate)).digest()


def new_swissnum() -> str:
    """A fresh random swissnum: 160 bits as 32 lowercase base32 characters."""
    return b32encode(secrets.token_bytes(SWISSNUM_BYTES))


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 key (the stock client accepts it, and it is quick to make)."""
    return ec.generate_private_key(ec.SECP256R1())


def self_signed_certificate(key: PrivateKey, common_name: str = "tahoe-cloud") -> x509.Certificate:
    """A self-signed certificate for ``key``: the client checks only self-signature and SPKI."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(_NOT_AFTER)
        .sign(key, hashes.SHA256())
    )


@frozen
class NodeIdentity:
    """Everything that identifies one storage node to clients.

    The private key and the swissnum stay out of ``repr`` so that logging an
    identity by mistake leaks nothing.
    """

    private_key: PrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)
    swissnum: str = field(repr=False)
    tub_id: bytes
    server_id: str
    permutation_seed: bytes = field(repr=False)

    def __attrs_post_init__(self) -> None:
        if len(self.tub_id) != TUB_ID_BYTES:
            raise ValueError("a tub id is 20 bytes")

    @classmethod
    def from_key(
        cls, key: PrivateKey, certificate: x509.Certificate, swissnum: str
    ) -> NodeIdentity:
        """The identity of a tahoe-cloud node: every id derived from its own key."""
        seed = derive_permutation_seed(certificate)
        return cls(
            private_key=key,
            certificate=certificate,
            swissnum=swissnum,
            tub_id=derive_tub_id(certificate),
            server_id="v0-" + b32encode(seed),
            permutation_seed=seed,
        )

    @property
    def spki_hash(self) -> str:
        return spki_hash(self.certificate)

    @property
    def tub_id_text(self) -> str:
        """The tub id as 32 lowercase base32 characters (the FURL's tub part)."""
        return b32encode(self.tub_id)

    @property
    def permutation_seed_base32(self) -> str:
        return b32encode(self.permutation_seed)

    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def create_identity() -> NodeIdentity:
    """A brand-new identity: new key, new certificate, new swissnum."""
    key = generate_private_key()
    return NodeIdentity.from_key(key, self_signed_certificate(key), new_swissnum())


def write_private_file(path: Path, content: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never briefly world-readable).

    Refuses to replace an existing file: an identity is never overwritten.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)


def write_identity(private_dir: Path, identity: NodeIdentity) -> None:
    """Store a tahoe-cloud identity in ``private_dir`` (created 0700 if missing)."""
    private_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(private_dir, 0o700)
    write_private_file(private_dir / KEY_FILE, identity.private_key_pem())
    write_private_file(private_dir / CERTIFICATE_FILE, identity.certificate_pem())
    write_private_file(private_dir / SWISSNUM_FILE, identity.swissnum.encode("ascii") + b"\n")


def read_private_bytes(path: Path) -> bytes:
    """Read a file holding a secret; warn (naming the file, never its content) if others can."""
    return read_secret_file(path)


def load_private_key(path: Path, data: bytes) -> PrivateKey:
    """Parse a PEM private key (RSA or EC); a bad file is a ConfigError naming it."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # The parser's message may quote key material; say only what is wrong.
        raise ConfigError(str(path), None, None, "not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(str(path), None, None, "the key must be RSA or ECDSA")
    return key


def load_certificate(path: Path, data: bytes, key: PrivateKey) -> x509.Certificate:
    """Parse a PEM certificate and check that it belongs to ``key``."""
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(str(path), None, None, "not a PEM certificate") from None
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ConfigError(str(path), None, None, "the certificate does not match the private key")
    return certificate


def validate_swissnum_text(path: Path, text: str) -> str:
    """``text``, the swissnum read from ``path``, if it is base32 of at least 16 bytes.

    It becomes a URL path segment and the secret every request presents, so
    a file holding anything else stops the node with an error naming it.
    """
    try:
        raw = b32decode(text)
    except ValueError:
        raw = b""
    if len(raw) < 16:
        raise ConfigError(str(path), None, None, "not a swissnum (at least 26 base32 characters)")
    return text


def load_identity(private_dir: Path) -> NodeIdentity:
    """Read the identity ``write_identity`` stored; every problem names its file."""
    key_path = private_dir / KEY_FILE
    key = load_private_key(key_path, read_private_bytes(key_path))
    cert_path = private_dir / CERTIFICATE_FILE
    certificate = load_certificate(cert_path, read_private_bytes(cert_path), key)
    swiss_path = private_dir / SWISSNUM_FILE
    swissnum = validate_swissnum_text(
        swiss_path, read_private_bytes(swiss_path).decode("ascii", "replace").strip()
    )
    return NodeIdentity.from_key(key, certificate, swissnum)
