"""The Ceph RGW harness decides skip or fail by itself: skipped here without Ceph, failed in CI.

These run without Ceph: the packages are made to look missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import pytest_twisted

from tests.conformance.backends import BackendUnavailableHere, rgw_backend
from tests.support import ceph_rgw


@pytest.fixture
def no_ceph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ceph_rgw, "_shared", None)  # the session's cluster, if any, is kept
    monkeypatch.setattr(shutil, "which", lambda _command: None)  # as ceph_rgw looks it up


def test_missing_packages_skip_with_the_reason(
    no_ceph: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as e:
        ceph_rgw.require_rgw()
    assert "ceph-mon" in str(e.value) and "tools/ceph-rgw-packages" in str(e.value)


def test_missing_packages_fail_under_ci(no_ceph: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as e:
        ceph_rgw.require_rgw()
    assert "CI=true needs the RGW tests" in str(e.value)


@pytest.mark.parametrize("ci", ["", "true"])
@pytest_twisted.ensureDeferred
async def test_the_conformance_maker_skips_or_fails(
    no_ceph: None, ci: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", ci)
    expected = RuntimeError if ci else BackendUnavailableHere
    with pytest.raises(expected, match="Ceph RGW not installed"):
        async with rgw_backend(tmp_path):
            pass


def test_the_secret_stays_out_of_repr() -> None:
    server = ceph_rgw.RGWServer("http://127.0.0.1:1", "KEYID", "very-secret")
    assert "very-secret" not in repr(server) and "KEYID" in repr(server)
