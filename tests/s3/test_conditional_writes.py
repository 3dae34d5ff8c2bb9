"""Conditional writes on services that handle them differently (moto behind the quirk proxy).

``rgw``: Ceph RGW 16 refuses ``If-Match`` with the ETag quoted, and answers
412 to ``If-Match`` on a missing key. ``ignore-conditions``: Garage, older
SeaweedFS. The start-up probe must pick the form that works, refuse a service
that ignores conditions (unless ``s3.conditional_writes = optional``), and a
412 to a condition that held must never be reported as another writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, LogLevel, globalLogPublisher
from zope.interface import provider

from tahoe_cloud.backends.s3 import commands
from tahoe_cloud.backends.s3.config import create_backend
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.conditions import (
    NONE,
    STANDARD,
    ConditionalWrites,
    same_etag,
)
from tahoe_cloud.backends.s3.objectstore.errors import ConditionRefused
from tahoe_cloud.backends.s3.objectstore.listing import list_all
from tahoe_cloud.backends.s3.objectstore.objects import get_object, put_object
from tahoe_cloud.backends.s3.objectstore.retry import RetryPolicy
from tahoe_cloud.backends.s3.probe import ConditionalWritesUnsupported
from tahoe_cloud.errors import BackendError, ConfigError
from tahoe_cloud.server import messages as m
from tahoe_cloud.server.server import StorageServer
from tahoe_cloud.testing import run
from tahoe_cloud.testing.support import NODEID, START_TIME, lease_secrets, new_si, upload_share
from tahoe_cloud.vocabulary import WriteVector
from tests.s3.conftest import make_client
from tests.s3.makers import make_backend
from tests.s3.moto import MotoServer
from tests.s3.proxy import FaultProxy, Recorded, start_proxy
from tests.s3.test_config import node_config
from tests.support.s3 import new_bucket

pytestmark = pytest.mark.s3

DAY = 24 * 3600


class Service:
    """A bucket on moto, reached through the proxy with a quirk."""

    def __init__(self, moto: MotoServer, quirk: str | None) -> None:
        self.moto = moto
        self.bucket = run(new_bucket(moto))
        self.proxy, self.url = start_proxy(moto.url, quirk=quirk)
        self.clock = Clock()
        self.clock.advance(START_TIME)

    def server(self, tmp: Path, **kw: Any) -> StorageServer:
        policy = RetryPolicy(max_attempts=3, max_total_time=5, base_delay=0.01, max_delay=0.05)
        client = make_client(self.moto, self.bucket, url=self.url, policy=policy)
        kw.setdefault("keys", KeyLayout("p/"))
        return StorageServer(make_backend(client, tmp, **kw), nodeid=NODEID, clock=self.clock)

    def config(self, tmp: Path, extra: str = "") -> Any:
        return node_config(
            tmp,
            url=self.url,
            bucket=self.bucket,
            key_id=self.moto.access_key_id,
            secret=self.moto.secret_access_key,
            extra="s3.addressing = path\ns3.prefix = p\n" + extra,
        )

    def stop(self) -> None:
        pytest_twisted.blockon(self.proxy.port.stopListening())  # type: ignore[attr-defined]


@pytest.fixture
def service(moto: MotoServer, request: pytest.FixtureRequest) -> Iterator[Service]:
    s = Service(moto, getattr(request, "param", None))
    yield s
    s.stop()


def with_quirk(*quirks: str | None) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("service", quirks, indirect=True)


async def rtw(server: StorageServer, si: Any, data: bytes) -> m.ReadTestWriteResult:
    return await server.read_test_write(
        si,
        write_enabler=b"w" * 32,
        lease=lease_secrets(),
        vectors={0: m.TestWriteVectors(writes=(WriteVector(0, data),), new_length=None)},
        read_vector=[],
    )


def conditional_puts(proxy: FaultProxy) -> list[dict[str, str]]:
    return [
        r.headers
        for r in proxy.requests
        if r.method == "PUT" and ("if-match" in r.headers or "if-none-match" in r.headers)
    ]


@with_quirk("rgw")
@pytest_twisted.ensureDeferred
async def test_mutable_overwrite_and_lease_renewal_on_an_rgw_like_service(
    service: Service, tmp_path: Path
) -> None:
    """Failed before the probe: every overwrite and renewal got 412 and was blamed on a writer."""
    server = service.server(tmp_path)
    await server.start()
    si = new_si()
    small, large = b"A" * 300, os.urandom(300_000)  # inline head, and a chunked share
    for first, second in ((small, b"B" * 400), (large, os.urandom(300_000))):
        si = new_si()
        assert (await rtw(server, si, first)).success
        assert (await rtw(server, si, second)).success
        assert await server.read_mutable(si, 0, 0, len(second)) == second
    shares_si = new_si()
    await upload_share(server, shares_si, 0, b"immutable")
    before = (await server.get_leases(shares_si))[0]
    service.clock.advance(DAY)
    await server.add_or_renew_lease(shares_si, lease_secrets())
    after = (await server.get_leases(shares_si))[0]
    assert max(x.expiration for x in after) == max(x.expiration for x in before) + DAY
    await server.stop()


@with_quirk(None, "rgw")
@pytest_twisted.ensureDeferred
async def test_the_probe_picks_the_form_that_works(service: Service, tmp_path: Path) -> None:
    server = service.server(tmp_path)
    service.proxy.clear()
    await server.start()
    backend: Any = server.backend
    report = backend.probe_report
    rgw = service.proxy.quirk == "rgw"
    assert report.usable, report.problems
    assert report.conditions.if_match_form == ("unquoted" if rgw else "quoted")
    assert backend.client.conditions == report.conditions
    # moto's create-only is not atomic under load: a race round may be tried again.
    quirks = list(report.quirks)
    # Its cost (docs/s3.md): 10 requests, 11 where the quoted form is refused.
    if not report.doubts:
        assert report.requests == (11 if rgw else 10)
    assert len(service.proxy.requests) == report.requests + 4  # + HEAD, GET, PUT, multipart LIST
    if rgw:
        assert any("quoted" in q for q in quirks)
        assert any("does not exist with 412" in q for q in quirks)
    else:
        assert quirks == []
    # Nothing of it is left in the bucket.
    assert await list_all(backend.client, "p/tahoe-cloud-probe/") == []
    # Every conditional PUT from now on uses that form.
    service.proxy.clear()
    si = new_si()
    await rtw(server, si, b"one")
    await rtw(server, si, b"two")
    await upload_share(server, new_si(), 0, b"x")
    matches = [h["if-match"] for h in conditional_puts(service.proxy) if "if-match" in h]
    assert matches
    assert all(v.startswith('"') != rgw for v in matches), matches
    await server.stop()


@with_quirk("ignore-conditions")
@pytest_twisted.ensureDeferred
async def test_a_service_ignoring_conditions_is_refused(service: Service, tmp_path: Path) -> None:
    server = service.server(tmp_path)
    with pytest.raises(ConditionalWritesUnsupported) as caught:
        await server.start()
    text = str(caught.value)
    for problem in (
        "ignores If-None-Match: *",
        "ignores If-Match (a PUT with a stale ETag succeeded)",
        "ignores If-Match on a key that does not exist",
        "let 4 of 4 concurrent create-only PUTs of one key succeed",
        "s3.conditional_writes = optional",
    ):
        assert problem in text
    # From the configuration: the error names the file, section and key.
    backend = create_backend(service.config(tmp_path / "node"))
    with pytest.raises(ConfigError) as config_error:
        await backend.start()
    assert config_error.value.key == "s3.conditional_writes"
    assert config_error.value.section == "storage"
    assert "ignores If-None-Match: *" in str(config_error.value)
    await backend.stop()
    # The probe cleaned up after itself, refused or not.
    client = make_client(service.moto, service.bucket)
    assert await list_all(client, "p/tahoe-cloud-probe/") == []
    await client.close()


@with_quirk("ignore-conditions")
@pytest_twisted.ensureDeferred
async def test_optional_conditional_writes_let_the_node_start_without_them(
    service: Service, tmp_path: Path
) -> None:
    warnings: list[str] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("log_level") == LogLevel.warn:
            warnings.append(str(event.get("found", "")))

    globalLogPublisher.addObserver(observe)
    try:
        backend = create_backend(
            service.config(tmp_path / "node", "s3.conditional_writes = optional\n")
        )
        server = StorageServer(backend, nodeid=NODEID, clock=service.clock)
        await server.start()
    finally:
        globalLogPublisher.removeObserver(observe)
    assert backend.client.conditions == NONE
    assert any("ignores If-None-Match" in w for w in warnings)
    service.proxy.clear()
    si = new_si()
    assert (await rtw(server, si, b"one")).success
    assert (await rtw(server, si, b"two")).success
    assert await server.read_mutable(si, 0, 0, 3) == b"two"
    await upload_share(server, new_si(), 0, b"x")
    assert conditional_puts(service.proxy) == []  # none sent: the service would ignore them
    await server.stop()


@with_quirk("rgw")
@pytest_twisted.ensureDeferred
async def test_a_refused_condition_that_held_is_not_blamed_on_another_writer(
    service: Service, tmp_path: Path
) -> None:
    """The class of defect: a 412 is a lost race only when the object really changed."""
    client = make_client(service.moto, service.bucket, url=service.url)
    client.conditions = STANDARD  # the quoted form, which this service refuses
    etag = await put_object(client, "k", b"one", if_none_match=True)
    with pytest.raises(ConditionRefused) as refused:
        await put_object(client, "k", b"two", if_match=etag)
    assert not refused.value.precondition_failed
    assert "condition held" in str(refused.value)
    assert (await get_object(client, "k")).body == b"one"
    # A real change is still a lost race, reported as one.
    other = make_client(service.moto, service.bucket)  # straight to moto
    await put_object(other, "k", b"changed")
    with pytest.raises(BackendError) as lost:
        await put_object(client, "k", b"three", if_match=etag)
    assert lost.value.precondition_failed  # type: ignore[attr-defined]
    assert not isinstance(lost.value, ConditionRefused)
    # If-Match on a key that is gone: a lost race too (RGW answers 412, AWS 404).
    with pytest.raises(BackendError) as gone:
        await put_object(client, "gone", b"x", if_match=etag)
    assert gone.value.precondition_failed  # type: ignore[attr-defined]
    await client.close()
    await other.close()
    # Through the backend: the mutable write's error names the service, not a writer.
    server = service.server(tmp_path)
    await server.start()
    backend: Any = server.backend
    si = new_si()
    await rtw(server, si, b"one")
    backend.client.conditions = STANDARD
    with pytest.raises(BackendError) as caught:
        await rtw(server, si, b"two")
    assert "another writer" not in str(caught.value)
    assert "condition held" in str(caught.value)
    shares_si = new_si()
    await upload_share(server, shares_si, 0, b"immutable")
    service.clock.advance(DAY)
    with pytest.raises(BackendError) as lease_error:
        await server.add_or_renew_lease(shares_si, lease_secrets())
    assert "keeps changing" not in str(lease_error.value)
    assert "condition held" in str(lease_error.value)
    await server.stop()


@with_quirk(None, "rgw", "ignore-conditions")
@pytest_twisted.ensureDeferred
async def test_check_reports_conditional_writes(service: Service, tmp_path: Path) -> None:
    config = service.config(tmp_path / "node")
    if service.proxy.quirk == "ignore-conditions":
        with pytest.raises(ConfigError) as caught:
            await commands.check(config)
        assert caught.value.key == "s3.conditional_writes"
        assert "ignores If-Match" in str(caught.value)
        optional = service.config(tmp_path / "opt", "s3.conditional_writes = optional\n")
        line = await commands.check(optional)
        assert "conditional writes: none" in line
        assert "ignores If-Match" in line
        return
    line = await commands.check(config)
    assert line.startswith("OK: ")
    if service.proxy.quirk == "rgw":
        assert "If-Match with the ETag unquoted" in line
        assert "refuses If-Match with the ETag quoted" in line
    else:
        assert "If-Match with the ETag quoted" in line


@pytest.mark.parametrize(("status", "code"), [(412, "PreconditionFailed"), (501, "NotImplemented")])
@pytest_twisted.ensureDeferred
async def test_a_service_refusing_if_match_in_both_forms_is_refused(
    service: Service, tmp_path: Path, status: int, code: str
) -> None:
    """Neither form works (AWS before Nov 2024 answered 501 to If-Match on PUT)."""
    service.proxy.refuse = lambda r: (
        (status, code) if r.method == "PUT" and "if-match" in r.headers else None
    )
    server = service.server(tmp_path)
    with pytest.raises(ConditionalWritesUnsupported) as caught:
        await server.start()
    assert (
        "refuses If-Match with the object's current ETag, quoted"
        f" (HTTP {status} {code}) and unquoted (HTTP {status} {code})"
    ) in str(caught.value)
    backend: Any = server.backend
    assert backend.probe_report.requests == 5  # it stops there (4 PUT), and cleans up
    assert await list_all(backend.client, "p/tahoe-cloud-probe/") == []
    await server.stop()


def test_if_match_forms() -> None:
    quoted, bare = ConditionalWrites("quoted"), ConditionalWrites("unquoted")
    for etag in ('"abc"', "abc", 'W/"abc"'):
        assert quoted.if_match(etag) == '"abc"'
        assert bare.if_match(etag) == "abc"
    assert same_etag('"abc"', "abc")
    assert not same_etag("", "")
    assert not NONE.enabled and STANDARD.enabled


@pytest_twisted.ensureDeferred
async def test_collect_orphans_removes_what_an_interrupted_probe_left(
    service: Service, tmp_path: Path
) -> None:
    server = service.server(tmp_path)
    await server.start()
    backend: Any = server.backend
    await put_object(backend.client, "p/tahoe-cloud-probe/0123abcd/a", b"probe 1")
    assert await backend.maintenance.collect_orphans(min_age=0) == 1
    assert await list_all(backend.client, "p/tahoe-cloud-probe/") == []
    await server.stop()


@with_quirk(None, "rgw")
@pytest_twisted.ensureDeferred
async def test_the_probe_is_not_fooled_by_lost_answers(service: Service, tmp_path: Path) -> None:
    """A PUT that landed, its answer lost, is refused on its retry: still a success.

    Without reading back, such a retry made the probe report a refused
    create-only PUT or If-Match, and a node on a good service refused to start.
    """
    proxy = service.proxy
    proxy.fault_rate, proxy.faults = 0.3, ("reset_after", "slowdown", "reset")
    rgw = proxy.quirk == "rgw"
    for seed in range(6):
        proxy.rng.seed(seed)
        policy = RetryPolicy(max_attempts=10, max_total_time=20, base_delay=0.01, max_delay=0.02)
        client = make_client(service.moto, service.bucket, url=service.url, policy=policy)
        backend = make_backend(client, tmp_path / str(seed), keys=KeyLayout(f"s{seed}/"))
        report = await backend.probe_conditional_writes()
        assert report.usable, (seed, report.problems)
        assert report.conditions.if_match_form == ("unquoted" if rgw else "quoted")
        await backend.stop()
    assert any(r.fault == "reset_after" for r in proxy.requests)


@pytest_twisted.ensureDeferred
async def test_a_create_only_race_lost_once_is_tried_again(
    service: Service, tmp_path: Path
) -> None:
    """Several winners in one round only (moto under load): noted, not refused."""
    proxy = service.proxy

    def flip(r: Recorded) -> None:
        if r.method == "PUT" and r.path.endswith("/race0"):
            proxy.quirk = "ignore-conditions"  # this round's racers all win
        elif r.method == "PUT" and r.path.endswith("/race1"):
            proxy.quirk = None

    proxy.on_request = flip
    client = make_client(service.moto, service.bucket, url=service.url)
    backend = make_backend(client, tmp_path, keys=KeyLayout("p/"))
    warned: list[str] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        if event.get("log_level") == LogLevel.warn and "doubt" in event:
            warned.append(event["doubt"])

    globalLogPublisher.addObserver(observe)
    try:
        report = await backend.probe_conditional_writes()
    finally:
        globalLogPublisher.removeObserver(observe)
    assert warned == list(report.doubts)
    assert report.usable, report.problems
    assert report.quirks == ()
    assert report.doubts == (
        "let 4 of 4 concurrent create-only PUTs of one key succeed in 1 of 2 tries:"
        " its create-only is not always atomic",
    )
    assert report.requests == 14
    await backend.stop()
