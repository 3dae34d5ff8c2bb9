"""A strict CBOR decoder that builds at most a budgeted number of items.

cbor2 builds whatever a body describes, in one C call that holds the reactor:
a 16 MiB body of ``[[]]`` items became 1.4 GiB of Python lists and 8 s with
the server blocked. This decoder counts every item (each becomes at most one
Python object of about 100 bytes) and refuses a body before building more
than ``max_items`` of them; it also refuses a container announcing more
entries than the body has bytes or the budget has room for, so nothing is
allocated from a declared length alone. It decodes in slices of ``SLICE``
items (``steps``), so a large body can be decoded between other events.

Only what a request may hold is accepted: definite-length items, maps
without duplicate keys whose keys are integers, text or bytes (their hashes
cannot be made to collide in bulk), tag 258 (a set of such values) and no
other tag, no simple value but false, true and null.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

#: Items decoded between two chances for the reactor to run other events.
SLICE = 4096

_HASHABLE = (int, str, bytes)
_FLOATS = {25: struct.Struct(">e"), 26: struct.Struct(">f"), 27: struct.Struct(">d")}
_SIMPLE: dict[int, Any] = {20: False, 21: True, 22: None}
_SET_TAG = 258
_NO_KEY = object()


class CBORRefused(ValueError):
    """The body is not CBOR this server accepts; the message says why."""


class _Frame:
    """A container being filled: an array, a map, or the array inside tag 258."""

    __slots__ = ("items", "key", "kind", "remaining")

    def __init__(self, kind: int, remaining: int) -> None:
        self.kind = kind  # 4 array, 5 map, 6 tag 258
        self.remaining = remaining
        self.items: Any = {} if kind == 5 else []
        self.key: Any = _NO_KEY


class BudgetedDecoder:
    """Decodes one CBOR item of ``data``; ``value`` holds it once ``steps`` is exhausted."""

    def __init__(self, data: bytes, *, max_items: int, max_depth: int) -> None:
        self._data = data
        self._max_items = max_items
        self._max_depth = max_depth
        self.value: object = None
        #: Where the decoded item ends (trailing bytes start here).
        self.end = 0

    def _head(self, pos: int) -> tuple[int, int, int, int]:
        """Major type, additional info, argument and the position after the head."""
        data = self._data
        if pos >= len(data):
            raise CBORRefused("malformed CBOR body (truncated)")
        initial = data[pos]
        major, info = initial >> 5, initial & 0x1F
        pos += 1
        if info < 24:
            return major, info, info, pos
        if info > 27:
            raise CBORRefused("malformed CBOR body (indefinite length or reserved value)")
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise CBORRefused("malformed CBOR body (truncated)")
        return major, info, int.from_bytes(data[pos : pos + size], "big"), pos + size

    def steps(self) -> Iterator[None]:
        """Decode, yielding after every ``SLICE`` items; raises ``CBORRefused``."""
        data, size = self._data, len(self._data)
        stack: list[_Frame] = []
        pos = items = 0
        while True:
            major, info, arg, pos = self._head(pos)
            items += 1
            if items > self._max_items:
                raise CBORRefused(f"CBOR body holds more than {self._max_items} items")
            if items % SLICE == 0:
                yield
            value: Any
            if major == 0:
                value = arg
            elif major == 1:
                value = -1 - arg
            elif major in (2, 3):
                if arg > size - pos:
                    raise CBORRefused("malformed CBOR body (truncated)")
                value = data[pos : pos + arg]
                pos += arg
                if major == 3:
                    try:
                        value = value.decode("utf-8")
                    except UnicodeDecodeError:
                        raise CBORRefused("malformed CBOR body (invalid UTF-8)") from None
            elif major in (4, 5, 6):
                if len(stack) >= self._max_depth:
                    raise CBORRefused(f"CBOR nesting deeper than {self._max_depth}")
                if major == 6:
                    if arg != _SET_TAG:
                        raise CBORRefused(f"CBOR tag {arg} is not allowed")
                    stack.append(_Frame(6, 1))
                    continue
                entries = arg * (major - 3)  # a map entry is two items
                if entries > size - pos:
                    raise CBORRefused("malformed CBOR body (truncated)")
                if entries > self._max_items - items:
                    raise CBORRefused(f"CBOR body holds more than {self._max_items} items")
                if entries:
                    stack.append(_Frame(major, arg))
                    continue
                value = [] if major == 4 else {}
            elif info in _FLOATS:
                value = _FLOATS[info].unpack(data[pos - (1 << (info - 24)) : pos])[0]
            elif info in _SIMPLE:
                value = _SIMPLE[info]
            else:
                raise CBORRefused(f"CBOR simple value {arg} is not allowed")
            # Hand the value to the containers it completes.
            while stack:
                frame = stack[-1]
                if frame.kind == 5 and frame.key is _NO_KEY:
                    if not isinstance(value, _HASHABLE) or isinstance(value, bool):
                        raise CBORRefused("CBOR map keys must be integers, text or bytes")
                    if value in frame.items:
                        raise CBORRefused("duplicate key in a CBOR map")
                    frame.key = value
                    break
                if frame.kind == 5:
                    frame.items[frame.key] = value
                    frame.key = _NO_KEY
                elif frame.kind == 4:
                    frame.items.append(value)
                else:
                    value = _as_set(value)
                    stack.pop()
                    continue
                frame.remaining -= 1
                if frame.remaining:
                    break
                stack.pop()
                value = frame.items
            else:
                self.value = value
                self.end = pos
                return


def _as_set(value: object) -> set[Any]:
    if not isinstance(value, list):
        raise CBORRefused("CBOR tag 258 must hold an array")
    if not all(isinstance(v, _HASHABLE) and not isinstance(v, bool) for v in value):
        raise CBORRefused("CBOR sets may hold only integers, text or bytes")
    return set(value)
