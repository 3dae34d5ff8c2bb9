"""The shares of one storage index in one directory: ``shares/<prefix>/<si>/``.

A share's kind is read from its container header (mutable magic, or an
immutable version number), as upstream does; entries that are not canonical
share numbers (temporary files, stray files) and files with an unknown
header are skipped, never fatal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from zope.interface import implementer

from tahoe_cloud.backends.disk import fileio, immutable, mutable
from tahoe_cloud.backends.disk.fileio import IOPool, run_io
from tahoe_cloud.backends.disk.layout import Layout, share_number_from_name
from tahoe_cloud.backends.interfaces import (
    IImmutableShare,
    IImmutableUpload,
    IMutableShare,
    IShareSet,
    ShareKind,
)
from tahoe_cloud.errors import ShareNotFound
from tahoe_cloud.formats import immutable as immutable_format
from tahoe_cloud.formats import mutable as mutable_format
from tahoe_cloud.identifiers import StorageIndex
from tahoe_cloud.leases import Lease, WriteEnabler

_PEEK = mutable_format.MAGIC_SIZE


def kind_of(path: Path) -> ShareKind | None:
    """The kind of container in ``path``, or None if it is not one (blocking)."""
    with open(path, "rb") as f:
        prefix = f.read(_PEEK)
    if mutable_format.version_from_magic(prefix) is not None:
        return ShareKind.MUTABLE
    if immutable_format.is_immutable_header(prefix):
        return ShareKind.IMMUTABLE
    return None


def list_shares(directory: Path) -> dict[int, tuple[ShareKind, Path]]:
    """Every share in ``directory`` (one listing plus one small read per share)."""
    found: dict[int, tuple[ShareKind, Path]] = {}
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        number = share_number_from_name(entry.name)
        if number is None or not entry.is_file():
            continue
        path = Path(entry.path)
        try:
            kind = kind_of(path)
        except FileNotFoundError:
            continue  # deleted since the listing
        if kind is not None:
            found[number] = (kind, path)
    return found


def read_all_leases(directory: Path) -> dict[int, list[Lease]]:
    result = {}
    for number, (kind, path) in list_shares(directory).items():
        reader = immutable.read_leases if kind is ShareKind.IMMUTABLE else mutable.read_leases
        try:
            result[number] = reader(path)
        except FileNotFoundError:
            continue
    return result


def write_share_leases(path: Path, leases: Sequence[Lease]) -> None:
    kind = kind_of(path)
    if kind is ShareKind.IMMUTABLE:
        immutable.write_leases(path, leases)
    elif kind is ShareKind.MUTABLE:
        mutable.write_leases(path, leases)
    else:
        raise FileNotFoundError(path)


def delete_share(path: Path, shares_root: Path) -> None:
    fileio.discard(path)
    # Only the storage index's own directory: prefix directories are shared
    # with other storage indexes that may be busy in other threads.
    if path.parent.parent.parent == shares_root:
        try:
            path.parent.rmdir()
        except OSError:
            pass


@implementer(IShareSet)
class DiskShareSet:
    """``IShareSet`` over one storage index's directory."""

    def __init__(self, pool: IOPool, layout: Layout, storage_index: StorageIndex) -> None:
        self._pool = pool
        self._layout = layout
        self.storage_index = storage_index
        self._dir = layout.share_dir(storage_index)

    async def _listing(self) -> dict[int, tuple[ShareKind, Path]]:
        return await run_io(self._pool, "list", self._dir, list_shares, self._dir)

    async def list_shares(self) -> dict[int, ShareKind]:
        return {number: kind for number, (kind, _) in (await self._listing()).items()}

    async def _open(self, share_number: int, want: ShareKind) -> Path:
        path = self._layout.share_path(self.storage_index, share_number)
        missing = ShareNotFound(f"no {want.value} share {share_number} for {self.storage_index}")
        kind = await run_io(self._pool, "open", path, kind_of, path, missing=missing)
        if kind is not want:
            raise missing
        return path

    async def open_immutable(self, share_number: int) -> IImmutableShare:
        path = await self._open(share_number, ShareKind.IMMUTABLE)
        return immutable.DiskImmutableShare(self._pool, path, share_number)

    async def start_immutable_upload(
        self, share_number: int, allocated_size: int
    ) -> IImmutableUpload:
        staged = self._layout.incoming_path(self.storage_index, share_number)
        await run_io(
            self._pool, "start upload", staged, immutable.create_staged, staged, allocated_size
        )
        return immutable.DiskImmutableUpload(
            self._pool,
            staged,
            self._layout.share_path(self.storage_index, share_number),
            self._layout.incoming_dir,
            share_number,
            allocated_size,
        )

    async def open_mutable(self, share_number: int) -> IMutableShare:
        path = await self._open(share_number, ShareKind.MUTABLE)
        return mutable.DiskMutableShare(self._pool, path, share_number)

    def new_mutable(self, share_number: int, write_enabler: WriteEnabler) -> IMutableShare:
        path = self._layout.share_path(self.storage_index, share_number)
        return mutable.DiskMutableShare(self._pool, path, share_number, create_with=write_enabler)

    async def read_leases(self) -> dict[int, list[Lease]]:
        return await run_io(self._pool, "read leases in", self._dir, read_all_leases, self._dir)

    async def write_leases(self, leases: Mapping[int, Sequence[Lease]]) -> None:
        for share_number, share_leases in leases.items():
            path = self._layout.share_path(self.storage_index, share_number)
            missing = ShareNotFound(f"no share {share_number} for {self.storage_index}")
            await run_io(
                self._pool,
                "write leases of",
                path,
                write_share_leases,
                path,
                list(share_leases),
                missing=missing,
            )

    async def delete_share(self, share_number: int) -> None:
        path = self._layout.share_path(self.storage_index, share_number)
        await run_io(self._pool, "delete", path, delete_share, path, self._layout.shares_dir)
