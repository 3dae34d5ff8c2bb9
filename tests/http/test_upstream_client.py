"""The stock tahoe-lafs 1.20 HTTP client against this front end (plain HTTP, memory backend).

Runs scripts with the upstream virtualenv's Python against ``serve_memory.py``
run with ours; skipped when that virtualenv is missing (``tools/upstream-venv``
creates it). ``upstream_client_check.py`` exercises every endpoint through the
stock client; ``upstream_lease_check.py`` replays the conformance mixins'
lease tests through the test-only lease view.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).parent
UPSTREAM_PYTHON = Path.home() / ".cache/tahoe-cloud/tahoe-1.20.0/bin/python"
SWISSNUM = "upstreamcheckswissnum234567abcde"

pytestmark = [pytest.mark.upstream, pytest.mark.slow]


@contextmanager
def serving(*flags: str, ports: int = 1) -> Iterator[list[str]]:
    if not UPSTREAM_PYTHON.exists():
        pytest.skip("no upstream tahoe-lafs virtualenv (run tools/upstream-venv)")
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.http.serve_memory", SWISSNUM, *flags],
        cwd=HERE.parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield [f"http://127.0.0.1:{int(server.stdout.readline())}" for _ in range(ports)]
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def upstream(script: str, *args: str) -> str:
    check = subprocess.run(
        [str(UPSTREAM_PYTHON), str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return check.stdout


def test_stock_client_accepts_every_answer() -> None:
    with serving() as (base,):
        out = upstream("upstream_client_check.py", base, SWISSNUM)
    assert "IStorageServer adapter" in out


def test_lease_view_serves_the_mixin_lease_checks() -> None:
    with serving("--lease-view", ports=2) as (base, view):
        out = upstream("upstream_lease_check.py", base, view, SWISSNUM)
    assert "mutable writes create, renew and add leases" in out
