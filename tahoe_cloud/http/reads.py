"""Ranged share reads: 206 with ``Content-Range``, 204 past the end, streaming for big ranges.

The core's read calls return at most the bytes that exist (``b""`` past the
end) and do not tell the share's length, while ``Content-Range`` must be sent
before the body. So:

- a range of at most ``BUFFERED_READ`` bytes (the stock client asks for about
  1 MiB) is read first, in pieces of ``PIECE`` bytes, and answered with the
  exact range read: 206, or 204 when nothing is left at that offset (the
  stock downloader probes past the end and needs 204, since an HTTP range
  cannot be empty);
- a longer range starts the same way; if the share goes on past those bytes,
  a 1-byte probe at the range's last byte tells whether the whole range
  exists, and if not a binary search of 1-byte probes finds where the share
  ends (only for ranges over ``BUFFERED_READ`` that run past the end, which
  the stock client does not ask for). The answer is then streamed piece by
  piece with back-pressure, with an exact ``Content-Range``;
- without a ``Range`` header the whole share is streamed with 200.

Every answer is written by a stream with back-pressure, and the bytes it
holds (the buffered range, then each piece) count against the server's
answer budget (``tahoe_cloud.http.budget``) until the connection has taken
them: clients that ask and never read cannot pin more than that budget
between them; further reads wait for room.

A missing share is 404 (``ShareNotFound`` from the core) before any header
goes out. If a mutable share shrinks while a long range is being streamed,
the connection is cut rather than sending fewer bytes than announced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from twisted.web import http

from tahoe_cloud.http.async_bridge import OCTETS, Answer, Streamer, Throttle, WebRequest
from tahoe_cloud.http.body import PIECE
from tahoe_cloud.http.budget import ByteBudget
from tahoe_cloud.http.range_headers import format_content_range, one_header, parse_range

#: ``read(offset, size)`` of one share: at most ``size`` bytes, ``b""`` past the end.
ReadFn = Callable[[int, int], Awaitable[bytes]]

#: Longest range answered from memory.
BUFFERED_READ = 4 * 1024 * 1024

#: Smallest piece read when the answer budget is scarce (see ``ByteBudget.take_some``).
LEAST = 32 * 1024


async def _read_up_to(read: ReadFn, begin: int, size: int) -> bytes:
    """Up to ``size`` bytes from ``begin``, in pieces; stops at the end of the share."""
    pieces: list[bytes] = []
    offset, remaining = begin, size
    while remaining > 0:
        want = min(PIECE, remaining)
        data = await read(offset, want)
        if len(data) > want:
            raise RuntimeError("share read returned more bytes than asked for")
        pieces.append(data)
        offset += len(data)
        remaining -= len(data)
        if len(data) < want:
            break
    return b"".join(pieces)


async def _share_end(read: ReadFn, present: int, absent: int) -> int:
    """The share's length, given that byte ``present`` exists and byte ``absent`` does not."""
    while absent - present > 1:
        middle = (present + absent) // 2
        if await read(middle, 1):
            present = middle
        else:
            absent = middle
    return absent


class _Held:
    """Bytes of an answer taken from the budget; given back once, whatever happens."""

    def __init__(self, budget: ByteBudget, size: int) -> None:
        self._budget = budget
        self.size = size

    def release(self) -> None:
        size, self.size = self.size, 0
        if size:
            self._budget.give_back(size)


def _streamer(
    read: ReadFn, budget: ByteBudget, head: list[bytes], held: _Held, begin: int, end: int | None
) -> Streamer:
    """Writes ``head`` (held in ``held``), then ``[begin, end)`` (to the share's end if None).

    Every piece is counted in ``budget`` from before it is read until the
    connection has taken it (the transport asks for more: ``throttle.ready()``),
    so clients that do not read hold at most the budget between them.
    """

    async def stream(request: WebRequest, throttle: Throttle) -> None:
        try:
            if head:
                request.write(head.pop())
            await throttle.ready()
            held.release()
            offset = begin
            while (end is None or offset < end) and not throttle.stopped:
                want = PIECE if end is None else min(PIECE, end - offset)
                want = held.size = await budget.take_some(want, LEAST)
                if throttle.stopped:
                    return
                data = await read(offset, want)
                if end is not None and len(data) != want:
                    raise RuntimeError("share shrank while it was being sent")
                got = len(data)
                if data:
                    request.write(data)
                del data
                offset += got
                await throttle.ready()
                held.release()
                if end is None and got < want:
                    return
        finally:
            held.release()

    return stream


async def read_share(request: WebRequest, read: ReadFn, budget: ByteBudget) -> Answer:
    """Answer a GET of one share, given how to read it and the server's answer budget."""
    span = parse_range(one_header(request.requestHeaders.getRawHeaders(b"range"), "Range"))
    if span is None:
        # Learn early whether the share exists, so a missing one is a clean 404.
        await read(0, 0)
        nothing = _Held(budget, 0)
        return Answer(
            http.OK, content_type=OCTETS, stream=_streamer(read, budget, [], nothing, 0, None)
        )
    begin, end = span
    held = _Held(budget, await budget.take_some(min(end - begin, BUFFERED_READ), LEAST))
    try:
        buffered = held.size
        data = await _read_up_to(read, begin, buffered)
        if not data:
            held.release()
            return Answer(http.NO_CONTENT)
        if len(data) < buffered or end - begin <= buffered:
            stop = begin + len(data)
        else:
            # A long range, and the share goes on past what was buffered: find
            # where the answer stops (one probe, or a binary search when the
            # share ends inside the range), then stream the rest.
            last = begin + len(data) - 1
            stop = end if await read(end - 1, 1) else await _share_end(read, last, end - 1)
    except BaseException:
        held.release()
        raise
    return Answer(
        http.PARTIAL_CONTENT,
        content_type=OCTETS,
        headers=(
            (b"content-range", format_content_range(begin, stop)),
            (b"content-length", b"%d" % (stop - begin)),
        ),
        stream=_streamer(read, budget, [data], held, begin + len(data), stop),
        discard=held.release,
    )
