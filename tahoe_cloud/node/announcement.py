"""The storage announcement a client needs, as a ``private/servers.yaml`` entry.

A stock 1.20 client given a static server in ``servers.yaml`` uses HTTP when
the announcement lists ``anonymous-storage-NURLs``, but it still requires a
syntactically valid ``anonymous-storage-FURL``: it never dials it, yet takes
the tub id from it (the seed of the lease secrets and write enablers it sends
this server). The FURL's hint and name are therefore placeholders; its tub id
is the node's real one.

Upstream announces ``permutation-seed-base32`` too; so do we, so a client
places this server on the permuted ring exactly where its other clients (or,
for an upstream node directory, its former clients) do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from attrs import frozen

from tahoe_cloud.node.identity import NodeIdentity

# The FURL is never dialled when NURLs are present; the hint is the discard port.
_PLACEHOLDER_HINTS = "tcp:127.0.0.1:9"


@frozen
class Announcement:
    """What a client is told about one storage server."""

    server_id: str
    nickname: str
    furl: str
    nurls: tuple[str, ...]
    permutation_seed_base32: str

    @classmethod
    def for_node(cls, identity: NodeIdentity, nickname: str, nurls: Sequence[str]) -> Announcement:
        return cls(
            server_id=identity.server_id,
            nickname=nickname,
            furl=f"pb://{identity.tub_id_text}@{_PLACEHOLDER_HINTS}/unused",
            nurls=tuple(nurls),
            permutation_seed_base32=identity.permutation_seed_base32,
        )

    def as_dict(self) -> dict[str, object]:
        """The ``ann`` mapping, as the client's announcement parser reads it."""
        return {
            "nickname": self.nickname,
            "anonymous-storage-FURL": self.furl,
            "anonymous-storage-NURLs": list(self.nurls),
            "permutation-seed-base32": self.permutation_seed_base32,
        }

    def to_yaml(self, indent: int = 2) -> str:
        """The entry to paste under ``storage:`` in ``servers.yaml``.

        Indented by ``indent`` spaces so it pastes as is; it also parses on its
        own (YAML allows an indented root mapping). Every string is written as a
        double-quoted scalar (JSON's string syntax is valid YAML): a NURL holds
        ``#``, and a nickname may hold anything.
        """
        pad = " " * indent
        q = json.dumps
        lines = [
            f"{pad}{q(self.server_id)}:",
            f"{pad}  ann:",
            f"{pad}    nickname: {q(self.nickname)}",
            f"{pad}    anonymous-storage-FURL: {q(self.furl)}",
            f"{pad}    anonymous-storage-NURLs:",
            *(f"{pad}      - {q(nurl)}" for nurl in self.nurls),
            f"{pad}    permutation-seed-base32: {q(self.permutation_seed_base32)}",
        ]
        return "\n".join(lines) + "\n"
