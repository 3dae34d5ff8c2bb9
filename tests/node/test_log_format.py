"""The node's log line is formatted once per event, whatever the number of outputs."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from twisted.logger import LogLevel, LogPublisher

from tahoe_cloud.node.logging import observers_for, shared_text_format


def event(text: str) -> dict[str, object]:
    return {"log_format": text, "log_level": LogLevel.info, "log_time": 1_700_000_000.0,
            "log_namespace": "test", "log_system": "-"}  # fmt: skip


def test_same_event_reuses_the_line_and_another_event_gets_its_own() -> None:
    fmt = shared_text_format()
    first = event("first")
    line = fmt(first)
    assert line is not None and line.endswith("first\n")
    assert fmt(first) is line
    assert fmt(event("second")).endswith("second\n")  # type: ignore[union-attr]


def test_stdout_and_file_get_the_same_line(tmp_path: Path) -> None:
    out = StringIO()
    observers, log_file = observers_for(tmp_path, out)
    publisher = LogPublisher(*observers)
    publisher(event("GET /storage/v1/immutable/x 200"))
    log_file.close()
    written = (tmp_path / "logs" / "tahoe-cloud.log").read_text()
    assert out.getvalue() == written
    assert written.endswith("GET /storage/v1/immutable/x 200\n")
