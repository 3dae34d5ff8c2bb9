"""tahoe.cfg value syntaxes: what upstream accepts, we accept with the same meaning."""

import json
import subprocess
from pathlib import Path

import pytest

from tahoe_cloud.config.syntax import parse_bool, parse_date, parse_duration, parse_size

DAY = 86400


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", 0),
        ("0", 0),
        ("12345", 12345),
        ("1K", 1000),
        ("1kB", 1000),
        ("1G", 10**9),
        ("1GB", 10**9),
        ("1g", 10**9),
        ("100MiB", 100 * 2**20),
        ("100mib", 100 * 2**20),
        ("2Ki", 2048),
        ("3TiB", 3 * 2**40),
        ("1E", 10**18),
        ("7B", 7),
        ("7iB", 7),
    ],
)
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize(
    "text", ["1.5GB", "1 G", "-1", "G", "1X", "1GiBB", "1_000", "+5", "\u0661"]
)
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("60 days", 60 * DAY),
        ("1 day", DAY),
        ("60days", 60 * DAY),
        ("2 months", 62 * DAY),
        ("1 month", 31 * DAY),
        ("3mo", 93 * DAY),
        ("3 mos", 93 * DAY),
        ("1 year", 365 * DAY),
        ("2 years", 730 * DAY),
        ("0 days", 0),
    ],
)
def test_durations(text: str, value: int) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    "text", ["60", "60 seconds", "60 Days", "-1 day", "1.5 days", "days", "1 dayss", ""]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_dates() -> None:
    assert parse_date("1970-01-02") == DAY
    assert parse_date("2024-02-29") == 1709164800


@pytest.mark.parametrize("text", ["2024-2-1", "2024-02-30", "2024-13-01", "24-01-01", "x", ""])
def test_bad_dates(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_date(text)


@pytest.mark.parametrize("text", ["true", "True", "YES", "on", "1", " true "])
def test_true(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["false", "FALSE", "no", "Off", "0"])
def test_false(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["", "2", "y", "enabled", "truee"])
def test_bad_bools(text: str) -> None:
    with pytest.raises(ValueError, match="expected a boolean"):
        parse_bool(text)


_UPSTREAM_SCRIPT = """
import json, sys
from allmydata.util.abbreviate import parse_abbreviated_size
from allmydata.util.time_format import parse_duration, parse_date
def run(f, s):
    try:
        return f(s)
    except Exception:
        return None
inputs = json.loads(sys.stdin.read())
print(json.dumps({
    "sizes": [run(parse_abbreviated_size, s) for s in inputs["sizes"]],
    "durations": [run(parse_duration, s) for s in inputs["durations"]],
    "dates": [run(parse_date, s) for s in inputs["dates"]],
}))
"""


def _ours(parse, text):
    try:
        return parse(text)
    except ValueError:
        return None


@pytest.mark.upstream
def test_same_as_upstream(upstream_venv: Path) -> None:
    """Run upstream's own parsers on the same inputs: the accepted ones mean the same."""
    inputs = {
        "sizes": [
            *("0", "1", "1K", "1k", "1KB", "1KiB", "1MiB", "5G", "5gb", "2T", "1P", "1EiB"),
            *("9i", "9iB", "1.5G", "1 G", "G", "1X", "1GiBB"),
        ],
        "durations": [
            *("60 days", "1 day", "60days", "2 months", "1 month", "3mo", "3 mos"),
            *("1 year", "2 years", "0 days", "60", "60 Days", "1 dayss", "days"),
        ],
        "dates": ["2024-02-29", "1970-01-01", "2001-09-09", "2024-2-1", "x"],
    }
    result = subprocess.run(
        [str(upstream_venv / "bin" / "python"), "-c", _UPSTREAM_SCRIPT],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    upstream = json.loads(result.stdout)
    assert [_ours(parse_size, s) for s in inputs["sizes"]] == upstream["sizes"]
    assert [_ours(parse_duration, s) for s in inputs["durations"]] == upstream["durations"]
    assert [_ours(parse_date, s) for s in inputs["dates"]] == upstream["dates"]
