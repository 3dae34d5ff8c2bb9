"""Optional things a backend can do besides storing shares, found at run time.

A backend's plugin object (:class:`tahoe_cloud.backends.plugin.BackendPlugin`)
carries a ``capabilities`` object; the ``tahoe-cloud`` commands ask it
``IPreflightCheck.providedBy(capabilities)`` and so on, and never test a
backend's name. A third-party backend gets ``check``, ``create-container``,
``clean`` and its own ``create-node`` options by providing these interfaces,
with no change to tahoe-cloud.

These capabilities work from the node's configuration alone (or, for
``create-node``, from the command line, before any configuration exists), so
they live on the plugin, usable before a backend is built. Capabilities of a
running store are provided by the backend INSTANCE and looked up the same
way: ``IShareEnumeration.providedBy(backend)``. A backend without one
simply does not provide it; the caller says so (it never guesses).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import field, frozen
from zope.interface import Attribute, Interface

from tahoe_cloud.errors import TahoeCloudError
from tahoe_cloud.vocabulary import StorageIndex

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig


class IPreflightCheck(Interface):
    """What ``tahoe-cloud check`` runs instead of building, starting and stopping the backend.

    For a backend whose start-up does more than its check should (claiming a
    bucket, clearing uploads), or whose check can say more than "it starts".
    """

    subject = Attribute(
        "What the check examines, as a phrase ('the S3 settings'): create-node prints"
        " 'Check <subject> with: tahoe-cloud check NODEDIR'."
    )

    async def check(config: NodeConfig, reactor: Any) -> str:
        """Check the configured store works, writing nothing a node relies on.

        :returns: the one line ``check`` prints, starting with ``OK:``.
        :raises ConfigError: naming the file, section and key at fault.
        :raises BackendError: any other failure, with a message to act on.
        """


class IContainerCreation(Interface):
    """What ``tahoe-cloud create-container`` runs: create the container shares go in."""

    container = Attribute(
        "The container, as a phrase ('the bucket'): create-node prints"
        " '(Create <container> first if needed: tahoe-cloud create-container NODEDIR)'."
    )

    async def create_container(config: NodeConfig, reactor: Any) -> str:
        """Create the configured container; an existing one of the operator's is not an error.

        :returns: the one line ``create-container`` prints.
        :raises ConfigError: / ``BackendError`` as for ``IPreflightCheck.check``.
        """


class IMaintenance(Interface):
    """What ``tahoe-cloud clean`` runs, while the node is stopped (the command holds its lock)."""

    async def clean(config: NodeConfig, reactor: Any) -> str:
        """Delete what crashes left behind, leaving anything a live upload may still use.

        :returns: the one line ``clean`` prints (what was deleted).
        :raises ConfigError: / ``BackendError`` as for ``IPreflightCheck.check``.
        """


@frozen
class StoredIndex:
    """One storage index an enumeration found, with what the listing told for free.

    :ivar storage_index: the ``StorageIndex``; it had at least one completed
        share when the backend listed it.
    :ivar leases_modified: POSIX time (the store's clock) after which no lease
        of this storage index was written, as far as the backend's listing
        shows without reading the leases; ``None`` when the backend does not
        know it for free (or the storage index has no lease record at all).
        It is an upper bound on the last lease write, nothing more: it says
        neither which leases exist nor when they expire.
    """

    storage_index: StorageIndex
    leases_modified: float | None = None


def enumeration_key(storage_index: StorageIndex) -> str:
    """The order every enumeration follows: the 26-character base32 text, as ASCII.

    This is the order of upstream's directory names and of S3 keys, NOT the
    order of the raw bytes (base32 digits ``2``-``7`` sort before letters as
    text but after them as values). Callers persisting progress compare with this.
    """
    return storage_index.text


class IShareEnumeration(Interface):
    """Every storage index a backend holds shares for, in batches, resumable.

    Provided by a backend INSTANCE (``IShareEnumeration.providedBy(backend)``),
    for the lease-expiry checker and for migration. A backend that does not
    provide it cannot be walked: a caller needing it refuses clearly.

    Cost of one batch, by backend:

    - ``memory``: no I/O; a sort of the storage indexes per call of
      ``storage_indexes`` (not per batch). ``leases_modified`` is None.
    - ``disk``: every directory read runs in the backend's I/O thread pool
      (never on the reactor thread), one bounded piece per pool call: one
      read of ``shares/`` per walk, one read of each prefix directory
      (``shares/<pp>/``) when the walk reaches it, then one pool call per
      batch, in which each storage index costs one read of its directory and
      one ``stat`` per share file. A batch holds at most ``DISK_BATCH`` (256)
      storage indexes and never spans two prefix directories.
      ``leases_modified`` is the newest share file's mtime (leases live in
      the share files; a mutable write also moves it, which keeps it an
      upper bound). ``incoming/`` is never read.
    - ``cloud.s3``: ListObjectsV2 over ``shares/`` (the complete source: a
      storage index with shares is found even when its lease object is
      missing) merged with a ListObjectsV2 over ``leases/`` for the lease
      objects' ``LastModified``; both start after the resume point with
      ``StartAfter``. A whole walk costs ceil(share keys / 1,000) +
      ceil(lease objects / 1,000) LISTs, and no GET or HEAD. A batch is at
      most 1,000 storage indexes. ``leases_modified`` is the lease object's
      ``LastModified`` (the lease object is rewritten at every lease change),
      None when it has none.

    Consistency: the walk is not a snapshot. A storage index whose shares
    are all completed before the walk starts and kept until it ends is
    yielded exactly once; one created or deleted meanwhile may or may not be.
    Uploads in progress are never yielded (only completed shares count).
    Each storage index is yielded once per walk, in ``enumeration_key`` order.
    """

    def storage_indexes(after: StorageIndex | None = None) -> AsyncIterator[list[StoredIndex]]:
        """Batches of ``StoredIndex``, in ``enumeration_key`` order, strictly after ``after``.

        Batches are never empty and come in increasing order across the whole
        walk, so a caller that persists the last storage index it finished
        resumes a cycle with ``after=`` that index and gets exactly the rest.
        The iterator does I/O only while the caller awaits its next batch:
        pacing (how often to ask, to leave the store to clients) is the
        caller's. Failures are ``BackendError`` (``BackendUnavailable`` when transient).
        """


@frozen
class NodeSettings:
    """What ``create-node`` writes for a backend, besides ``backend = NAME``.

    :ivar storage_lines: ``key = value`` lines for ``[storage]``, each ending in a newline.
    :ivar private_files: file name in ``NODEDIR/private/`` -> its text; each is
        created with mode 0600 (secrets never go in ``tahoe.cfg``).
    """

    storage_lines: str = ""
    private_files: Mapping[str, str] = field(factory=dict)


class INodeCreationOptions(Interface):
    """Options a backend adds to ``tahoe-cloud create-node``, and what it writes from them.

    Every plugin's options are always on the command line (so ``--help``
    lists them); giving one with another ``--backend`` is an error naming it.
    """

    description = Attribute("One line under the options' heading in ``create-node --help``.")

    def add_arguments(group: argparse._ArgumentGroup) -> Sequence[argparse.Action]:
        """Add the options to ``group``; return the actions ``group.add_argument`` returned.

        Use flags with the backend's own prefix (``--s3-...``); an option is
        "given" when its value differs from its default.
        """

    def node_settings(args: argparse.Namespace) -> NodeSettings:
        """Check the options and say what to write; nothing is written yet.

        Called only when ``--backend`` names this backend, before the node
        directory exists, so a mistake leaves nothing behind.

        :raises TahoeCloudError: with a message naming the option at fault.
        """


def read_secret(path: Path | None, *, option: str, prompt: str) -> str:
    """A one-line secret from ``path`` or else standard input (not echoed on a terminal).

    For ``node_settings``: a secret never comes from the command line itself,
    where other users see it in the process list and shells keep it in history.
    """
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise TahoeCloudError(f"{option}: cannot read {path} ({e})") from None
    elif sys.stdin is None:
        raise TahoeCloudError(f"{option}: no file given and no standard input to read")
    elif sys.stdin.isatty():
        text = getpass.getpass(prompt).strip()
    else:
        text = sys.stdin.readline().strip()
    if not text or "\n" in text or "\r" in text:
        where = path or "standard input"
        raise TahoeCloudError(f"{option}: {where} must hold the secret as one line")
    return text
