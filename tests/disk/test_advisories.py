"""Corruption advisories on a full disk: a real write failure, in a child process.

The child lowers its file size limit (``RLIMIT_FSIZE``) below the report's
size, so the kernel cuts the write short and then fails it, as a full disk
does. No report may be left behind, empty or cut short.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

from tahoe_cloud.backends.disk import advisories

_CHILD = """
import resource, signal, sys
from pathlib import Path
from tahoe_cloud.backends.disk import advisories

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))
try:
    advisories.write_report(Path(sys.argv[1]), "2026-11-21T193356.123456--si-3", "x" * 100)
except OSError as e:
    print(e.errno)
"""


def test_a_failed_write_leaves_no_report(tmp_path: Path) -> None:
    directory = tmp_path / "corruption-advisories"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(errno.EFBIG)
    assert list(directory.iterdir()) == []


def test_reports_never_replace_each_other(tmp_path: Path) -> None:
    first = advisories.write_report(tmp_path, "n", "one")
    second = advisories.write_report(tmp_path, "n", "two")
    assert (first.name, second.name) == ("n", "n.1")
    assert (first.read_text(), second.read_text()) == ("one", "two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n", "n.1"]
    assert first.stat().st_mode & 0o777 == 0o644
