"""Run scripts inside the stock tahoe-lafs 1.20 virtualenv (``tools/upstream-venv``).

Tests that check compatibility with real upstream code import from here:
``upstream_venv()`` makes (once per test session) and returns the venv path,
``run_upstream_python()`` runs a script with its interpreter.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "upstream-venv"


@functools.cache
def upstream_venv() -> Path:
    """Path of the virtualenv holding tahoe-lafs 1.20.0 (created on first use, then cached)."""
    done = subprocess.run([str(TOOL)], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tools/upstream-venv failed ({done.returncode}):\n{done.stderr}")
    venv = Path(done.stdout.strip())
    if not (venv / "bin" / "python").exists():
        raise RuntimeError(f"tools/upstream-venv printed {venv}, which has no bin/python")
    return venv


def run_upstream_python(
    script: Path,
    *args: str,
    input: str | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the upstream venv's Python; raise on failure when ``check``.

    stdout and stderr are captured as text; pass data (secrets included) on
    ``input`` rather than on the command line.
    """
    python = upstream_venv() / "bin" / "python"
    done = subprocess.run(
        [str(python), str(script), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        # stderr is a traceback from upstream code: useful, and holds no secrets
        # unless a script prints them (ours do not).
        print(done.stderr, file=sys.stderr)
        raise RuntimeError(f"{script.name} exited with status {done.returncode}")
    return done
