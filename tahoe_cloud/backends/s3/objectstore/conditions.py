"""How this server writes conditional PUTs to its service, as the start-up probe found out.

S3 services disagree on the form of ``If-Match``: AWS and moto take the
ETag as the service returned it (quoted, as RFC 7232 writes it), Ceph RGW 16
refuses that form with 412 even when it matches and accepts the bare ETag.
Some services ignore conditions altogether. ``probe`` finds out which; every
conditional PUT then goes through ``ConditionalWrites`` so it uses the form
that works, or no condition at all when the operator accepted a service
without them (``s3.conditional_writes = optional``).
"""

from __future__ import annotations

from typing import Literal

from attrs import frozen

IfMatchForm = Literal["quoted", "unquoted"]


def bare_etag(etag: str) -> str:
    """An ETag without its quotes (and without a weak ``W/`` mark)."""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def same_etag(a: str, b: str) -> bool:
    """Whether two ETags name the same version, whatever their quoting."""
    return bool(a) and bare_etag(a) == bare_etag(b)


@frozen
class ConditionalWrites:
    """The ``If-Match`` form to send, or None: send no condition (the service has none)."""

    if_match_form: IfMatchForm | None = "quoted"

    @property
    def enabled(self) -> bool:
        return self.if_match_form is not None

    def if_match(self, etag: str) -> str:
        """The ``If-Match`` value for ``etag`` in the form this service honours."""
        bare = bare_etag(etag)
        return f'"{bare}"' if self.if_match_form == "quoted" else bare

    def describe(self) -> str:
        if self.if_match_form is None:
            return "none (the service does not do them; s3.conditional_writes = optional)"
        if self.if_match_form == "quoted":
            return "If-None-Match: * and If-Match with the ETag quoted"
        return "If-None-Match: * and If-Match with the ETag unquoted"


#: Until the probe ran: the standard form.
STANDARD = ConditionalWrites("quoted")
#: No conditional writes at all.
NONE = ConditionalWrites(None)
