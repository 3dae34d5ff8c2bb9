"""The value syntaxes of tahoe.cfg: booleans, sizes, durations and dates.

Each parser accepts what stock Tahoe-LAFS 1.20 accepts for the same key, so a
tahoe.cfg written for upstream means the same thing here. Where upstream's
parser lets nonsense through by accident (signs and underscores in numbers,
impossible calendar dates) these parsers refuse it instead.

Every parser raises ``ValueError`` with a message that says what was expected;
the caller (``NodeConfig``) turns it into a ``ConfigError`` naming the file,
section and key.
"""

from __future__ import annotations

import calendar
import datetime
import re

_TRUE = frozenset({"1", "yes", "true", "on"})
_FALSE = frozenset({"0", "no", "false", "off"})

BOOLEAN_HELP = "expected a boolean: true/false, yes/no, on/off or 1/0"

# Sizes: a whole number of bytes with an optional unit. Like upstream, the
# unit is case-insensitive, K/M/G/T/P/E are powers of 1000, Ki/Mi/... are
# powers of 1024, and a trailing "B" is optional ("1G" == "1GB" == 10**9).
_SIZE = re.compile(r"([0-9]+)([KMGTPE]?I?)B?\Z")
_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "I": 1,  # upstream accepts a bare "i" ("100iB" is 100 bytes); keep that
    **{prefix: int(1000 ** (i + 1)) for i, prefix in enumerate("KMGTPE")},
    **{prefix + "I": int(1024 ** (i + 1)) for i, prefix in enumerate("KMGTPE")},
}
SIZE_HELP = (
    "expected a size: a whole number of bytes, optionally followed by a unit "
    "K, M, G, T, P, E (powers of 1000) or KiB, MiB, GiB, TiB, PiB, EiB (powers of 1024), "
    "e.g. 1G or 500MiB"
)

# Durations, as upstream's parse_duration: a whole number and a unit of day,
# month (31 days) or year (365 days), singular or plural, "mo" for month, with
# or without a space; units are lowercase.
DAY = 24 * 60 * 60
_DURATION = re.compile(r"\s*([0-9]+)\s*(day|month|mo|year)s?\Z")
_DURATION_UNITS = {"day": DAY, "month": 31 * DAY, "mo": 31 * DAY, "year": 365 * DAY}
DURATION_HELP = (
    "expected a duration: a whole number and a unit of days, months (31 days) "
    "or years (365 days), e.g. '60 days' or '2 months'"
)

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
DATE_HELP = "expected a date as YYYY-MM-DD, e.g. 2024-01-31"


def parse_bool(text: str) -> bool:
    """``true/false, yes/no, on/off, 1/0`` in any letter case."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{BOOLEAN_HELP}, got {text!r}")


def parse_size(text: str) -> int:
    """A size in bytes; ``""`` is 0, as upstream treats an empty reserved_space."""
    if text == "":
        return 0
    match = _SIZE.match(text.upper())
    if match is None:
        raise ValueError(f"{SIZE_HELP}; got {text!r}")
    number, unit = match.groups()
    return int(number) * _SIZE_UNITS[unit]


def parse_duration(text: str) -> int:
    """A duration in whole seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{DURATION_HELP}; got {text!r}")
    number, unit = match.groups()
    return int(number) * _DURATION_UNITS[unit]


def parse_date(text: str) -> int:
    """A calendar date; returns the POSIX time of the UTC midnight that starts it."""
    match = _DATE.match(text)
    if match is None:
        raise ValueError(f"{DATE_HELP}; got {text!r}")
    try:
        day = datetime.date(*(int(part) for part in match.groups()))
    except ValueError as e:
        raise ValueError(f"{text!r} is not a real date ({e})") from None
    return calendar.timegm(day.timetuple())
