"""Changing a share's lease area in place, crash-safely, without copying its data.

Adding or removing a lease changes the lease count, and in an immutable
container the data length is implied by the file size and that count: no
order of appending a record and rewriting the count is safe on its own (in
between, 72 lease bytes read as share data, or 72 data bytes as a lease).
So a change that moves the end of the file is first written whole to a small
journal (``shares/incoming/leases/<si>.<shnum>``: the share's path, the byte
ranges to write and the final file size), fsynced and renamed into place;
then the ranges are written into the share, the file cut to its size and
fsynced; then the journal is removed. ``replay_all`` (run at start, before
``incoming/`` is emptied) redoes any journal left by a crash, so every share
is wholly before or wholly after its change; a change that fails while the
node runs (a full disk) is undone at once from the bytes it overwrote. The
journal holds only the lease area (at most ``MAX_LEASES_PER_SHARE`` records),
never share data.

Readers of the lease count and file size take ``share_lock(path)`` so they
never see the in-between state of a change made by another pool thread.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tahoe_cloud.backends.disk import fileio
from tahoe_cloud.backends.disk.layout import share_number_from_name
from tahoe_cloud.errors import InvalidRequest
from tahoe_cloud.vocabulary import StorageIndex

JOURNALS = "leases"
_MAGIC = b"tahoe-cloud lease journal 1\n"
_RANGE = struct.Struct(">QQ")
_HEAD = struct.Struct(">QL")
_NAME_LEN = struct.Struct(">H")

_LOCKS = tuple(threading.RLock() for _ in range(64))

Edit = tuple[int, bytes]


@contextmanager
def share_lock(path: Path) -> Iterator[None]:
    """Held while a share's lease area changes, or while its count and size are read."""
    with _LOCKS[hash(str(path)) % len(_LOCKS)]:
        yield


def journal_dir(shares_dir: Path) -> Path:
    return shares_dir / "incoming" / JOURNALS


def _share_parts(share_path: Path) -> tuple[str, str, str]:
    """``(prefix, si, shnum)`` of ``<shares>/<prefix>/<si>/<shnum>``."""
    return share_path.parent.parent.name, share_path.parent.name, share_path.name


def _encode(share_path: Path, edits: Sequence[Edit], final_size: int) -> bytes:
    name = "/".join(_share_parts(share_path)).encode("ascii")
    parts = [_MAGIC, _NAME_LEN.pack(len(name)), name, _HEAD.pack(final_size, len(edits))]
    for offset, data in edits:
        parts += [_RANGE.pack(offset, len(data)), data]
    return b"".join(parts)


def _decode(blob: bytes) -> tuple[tuple[str, str, str], list[Edit], int] | None:
    """The journal's contents, or None if it is not a whole journal."""
    try:
        if not blob.startswith(_MAGIC):
            return None
        at = len(_MAGIC)
        (name_len,) = _NAME_LEN.unpack_from(blob, at)
        at += _NAME_LEN.size
        parts = blob[at : at + name_len].decode("ascii").split("/")
        at += name_len
        final_size, count = _HEAD.unpack_from(blob, at)
        at += _HEAD.size
        edits = []
        for _ in range(count):
            offset, length = _RANGE.unpack_from(blob, at)
            at += _RANGE.size
            if at + length > len(blob):
                return None
            edits.append((offset, blob[at : at + length]))
            at += length
    except (struct.error, UnicodeDecodeError):
        return None
    if at != len(blob) or len(parts) != 3:
        return None
    prefix, si, shnum = parts
    try:
        valid = StorageIndex.from_text(si).prefix == prefix
    except InvalidRequest:
        valid = False
    if not valid or share_number_from_name(shnum) is None:
        return None
    return (prefix, si, shnum), edits, final_size


def _apply(fd: int, edits: Sequence[Edit], final_size: int) -> None:
    for offset, data in edits:
        fileio.write_at(fd, offset, data)
    os.ftruncate(fd, final_size)
    os.fsync(fd)


def change_in_place(
    fd: int, share_path: Path, shares_dir: Path, edits: Sequence[Edit], final_size: int
) -> None:
    """Write ``edits`` into the open share and cut it to ``final_size``, journalled.

    The caller holds ``share_lock(share_path)``.
    """
    directory = journal_dir(shares_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = ".".join(_share_parts(share_path)[1:])
    journal = directory / name
    tmp = directory / (name + ".tmp")
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fileio.write_at(out, 0, _encode(share_path, edits, final_size))
        os.fsync(out)
    finally:
        os.close(out)
    os.replace(tmp, journal)
    fileio.fsync_dir(directory)
    old_size = os.fstat(fd).st_size
    undo = [
        (at, fileio.read_at(fd, at, max(0, min(len(data), old_size - at)))) for at, data in edits
    ]
    try:
        _apply(fd, edits, final_size)
    except OSError:
        # A full disk, say: put the share back as it was, so readers in this
        # process never see it half changed. If that fails too, the journal
        # stays and the next start finishes the change.
        _apply(fd, undo, old_size)
        _forget(journal, directory)
        raise
    _forget(journal, directory)


def _forget(journal: Path, directory: Path) -> None:
    journal.unlink()
    # Removed durably before the next change of this share can be journalled.
    fileio.fsync_dir(directory)


def replay_all(shares_dir: Path) -> int:
    """Finish every change a crash interrupted (blocking; at start). Returns how many."""
    directory = journal_dir(shares_dir)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return 0
    done = 0
    for entry in entries:
        if entry.name.endswith(".tmp"):
            continue  # never renamed: its share was not touched
        decoded = _decode(Path(entry.path).read_bytes())
        if decoded is None:
            continue  # not ours; incoming/ is emptied next anyway
        parts, edits, final_size = decoded
        try:
            fd = os.open(shares_dir.joinpath(*parts), os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            _apply(fd, edits, final_size)
        finally:
            os.close(fd)
        done += 1
    return done
