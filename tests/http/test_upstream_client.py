"""The stock tahoe-lafs 1.20 HTTP client against this front end (plain HTTP, memory backend).

Runs ``upstream_client_check.py`` with the upstream virtualenv's Python
against ``serve_memory.py`` run with ours; skipped when that virtualenv is
missing (``tools/upstream-venv`` creates it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
UPSTREAM_PYTHON = Path.home() / ".cache/tahoe-cloud/tahoe-1.20.0/bin/python"
SWISSNUM = "upstreamcheckswissnum234567abcde"


@pytest.mark.upstream
@pytest.mark.slow
def test_stock_client_accepts_every_answer() -> None:
    if not UPSTREAM_PYTHON.exists():
        pytest.skip("no upstream tahoe-lafs virtualenv (run tools/upstream-venv)")
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.http.serve_memory", SWISSNUM],
        cwd=HERE.parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        check = subprocess.run(
            [
                str(UPSTREAM_PYTHON),
                str(HERE / "upstream_client_check.py"),
                f"http://127.0.0.1:{port}",
                SWISSNUM,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "IStorageServer adapter" in check.stdout
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
