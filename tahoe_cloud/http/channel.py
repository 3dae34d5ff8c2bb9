"""The HTTP channel: a header line over the limit is answered at once, not left to time out.

twisted.web's ``HTTPChannel`` reads lines of at most ``MAX_LENGTH`` (16 KiB)
and, past that, closes the transport without an answer. Over TLS that close
waits until the channel stops being the connection's producer, which only
its own ``loseConnection`` does: the client then heard nothing until the
idle timeout (60 s), holding the connection meanwhile. This channel answers
431 and closes through the channel.
"""

from __future__ import annotations

from twisted.web import http

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Content-Length: 0\r\n"
    b"Connection: close\r\n"
    b"\r\n"
)


class StorageChannel(http.HTTPChannel):
    """``HTTPChannel`` that answers an over-long request or header line with 431."""

    def lineLengthExceeded(self, line: bytes) -> None:
        if self.transport is not None:
            self.transport.write(_TOO_LARGE)
        self.loseConnection()  # type: ignore[no-untyped-call]
