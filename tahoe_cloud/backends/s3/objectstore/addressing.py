"""Where an S3 request goes: endpoint URL parsing, path-style vs virtual-hosted URLs, key quoting.

Every URL is built here and nowhere else, so the bytes that are signed are
exactly the bytes that are sent. Keys are quoted with ``safe="/~"`` (the
SigV4 rule for S3 paths) and query strings are sorted and quoted with
``safe="~"``, which is also SigV4's canonical form, so nothing is normalised
between signing and sending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote, urlsplit

from attrs import frozen

Addressing = Literal["auto", "path", "virtual"]
ADDRESSING_CHOICES: tuple[Addressing, ...] = ("auto", "path", "virtual")

# A bucket name usable as a DNS label under TLS: no dots (a dotted name would
# not match the endpoint's wildcard certificate), lowercase, 3..63 characters.
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]\Z", re.IGNORECASE)


class AddressError(ValueError):
    """An endpoint URL or bucket name that cannot be used; the text says why."""


@frozen
class Endpoint:
    """A parsed ``s3.url``: scheme, host, optional port, optional base path."""

    scheme: str
    host: str
    port: int | None
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Parse an endpoint URL such as ``https://s3.amazonaws.com`` or ``http://127.0.0.1:9000``."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as e:
            raise AddressError(f"not a valid URL ({e})") from None
        if parts.scheme not in ("http", "https"):
            raise AddressError("the URL must start with http:// or https://")
        if not parts.hostname:
            raise AddressError("the URL has no host name")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise AddressError("the URL must not contain a query, fragment or user name")
        base = parts.path.rstrip("/")
        return cls(parts.scheme, parts.hostname.lower(), port, base)

    @property
    def is_aws(self) -> bool:
        return self.host == "amazonaws.com" or self.host.endswith(".amazonaws.com")

    def netloc(self, host: str | None = None) -> str:
        h = host or self.host
        if ":" in h:  # IPv6 literal
            h = f"[{h}]"
        return f"{h}:{self.port}" if self.port is not None else h


def validate_bucket_name(bucket: str) -> str:
    """Accept what S3 and S3-compatible services accept for bucket names; raise ``AddressError``."""
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise AddressError(
            "bucket names are 3..255 characters of letters, digits, '.', '-' and '_',"
            " starting and ending with a letter or digit"
        )
    return bucket


def choose_style(
    endpoint: Endpoint, addressing: Addressing, bucket: str
) -> Literal["path", "virtual"]:
    """Decide the URL style; ``auto`` is virtual-hosted on AWS when the bucket is a DNS label."""
    if addressing == "path":
        return "path"
    if addressing == "virtual":
        return "virtual"
    if endpoint.is_aws and _DNS_BUCKET.match(bucket):
        return "virtual"
    return "path"


def quote_key(key: str) -> str:
    """Quote an object key for the URL path (SigV4's S3 rule: only ``/`` and ``~`` stay)."""
    return quote(key, safe="/~")


def encode_query(query: Mapping[str, str] | None) -> str:
    """The canonical query string: sorted by name, ``safe="~"``, ``name=`` for empty values."""
    if not query:
        return ""
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(query.items()))


@frozen
class BucketAddress:
    """Builds the URL of the bucket, or of an object in it, in the chosen style."""

    endpoint: Endpoint
    bucket: str
    style: Literal["path", "virtual"]

    @classmethod
    def create(cls, endpoint: Endpoint, bucket: str, addressing: Addressing) -> BucketAddress:
        validate_bucket_name(bucket)
        return cls(endpoint, bucket, choose_style(endpoint, addressing, bucket))

    def url(self, key: str = "", query: Mapping[str, str] | None = None) -> str:
        """The URL of ``key`` (or of the bucket itself when ``key`` is empty)."""
        if self.style == "virtual":
            netloc = self.endpoint.netloc(f"{self.bucket}.{self.endpoint.host}")
            path = f"{self.endpoint.base_path}/{quote_key(key)}"
        else:
            netloc = self.endpoint.netloc()
            path = f"{self.endpoint.base_path}/{quote_key(self.bucket)}/{quote_key(key)}"
        qs = encode_query(query)
        return f"{self.endpoint.scheme}://{netloc}{path}" + (f"?{qs}" if qs else "")
