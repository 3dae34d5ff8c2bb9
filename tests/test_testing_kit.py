"""``tahoe_cloud.testing`` is optional: tahoe-cloud runs without pytest; the kit names its extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Make the test tools unimportable, as in an environment without the [testing] extra.
WITHOUT = "import sys; sys.modules.update(pytest=None, pytest_twisted=None, hypothesis=None); "


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT + code], capture_output=True, text=True, timeout=60
    )


def test_the_kit_names_its_extra_when_pytest_is_missing() -> None:
    done = python("import tahoe_cloud.testing")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: tahoe_cloud.testing is tahoe-cloud's test kit")
    assert "pip install 'tahoe-cloud[testing]'" in last


@pytest.mark.parametrize(
    "module",
    [
        "tahoe_cloud.cli.main",
        "tahoe_cloud.backends.memory",
        "tahoe_cloud.backends.disk",
        "tahoe_cloud.backends.s3",
    ],
)
def test_tahoe_cloud_runs_without_the_test_tools(module: str) -> None:
    done = python(f"import {module}")
    assert done.returncode == 0, done.stderr


def test_the_kits_asserts_are_rewritten() -> None:
    """Its failures show the values compared (the pytest11 plugin registers it)."""
    from tahoe_cloud.testing import immutable

    assert type(immutable.__loader__).__name__ == "AssertionRewritingHook"
