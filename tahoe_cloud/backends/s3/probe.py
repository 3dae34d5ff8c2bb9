"""The start-up probe of conditional writes: what the service really does with them.

Mutable heads, lease objects and the ownership marker rely on a conditional
PUT being refused when, and only when, its condition fails. Services differ:
Ceph RGW 16 refuses ``If-Match`` with the ETag quoted (the form it returns it
in) even when it matches; Garage and older SeaweedFS ignore conditions and
overwrite. A service that ignores them must not be trusted silently, and one
that refuses a matching condition would fail every overwrite. So ``run`` and
``check`` first try each case on throwaway keys under the node's prefix
(``{p}tahoe-cloud-probe/{random}/``, deleted at the end), in 10 requests
(11 when the quoted form is refused; one GET more where a retried PUT was
refused, or every racer was, to see whether a first attempt landed):

1. create-only PUT (``If-None-Match: *``) of a new key: must succeed;
2. the same again, the key now existing: must be refused (412);
3. ``If-Match`` with the current ETag, quoted: should succeed; if refused,
4. the same unquoted: the form used from then on if it succeeds;
5. ``If-Match`` with a stale ETag: must be refused (412);
6. ``If-Match`` on a key that does not exist: must be refused (404; RGW: 412);
7. 4 concurrent create-only PUTs of one new key: exactly one must win (a
   round with several winners is tried again, 3 rounds at most: a service
   ignoring create-only loses them all, one whose check is not always atomic,
   as moto under load, is let through with a note);
8. one DeleteObjects of the probe keys.
"""

from __future__ import annotations

import os

from attrs import Factory, define, frozen
from twisted.internet import defer
from twisted.logger import Logger

from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.conditions import (
    NONE,
    ConditionalWrites,
    IfMatchForm,
    bare_etag,
)
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import content_md5, delete_objects, get_object
from tahoe_cloud.errors import BackendError

log = Logger()

RACERS = 4
RACE_ROUNDS = 3


class ConditionalWritesUnsupported(BackendError):
    """The service does not do conditional writes correctly, and they are required."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


@frozen
class ProbeReport:
    """What the probe found: the form to use, and what is wrong or odd with the service."""

    conditions: ConditionalWrites
    problems: tuple[str, ...]  # behaviours that make conditional writes unusable
    quirks: tuple[str, ...]  # behaviours worked around
    requests: int
    doubts: tuple[str, ...] = ()  # let through, but weaker than asked (logged as warnings)

    @property
    def usable(self) -> bool:
        return not self.problems


@define
class _Findings:
    problems: list[str] = Factory(list)
    quirks: list[str] = Factory(list)
    doubts: list[str] = Factory(list)


@frozen
class _Answer:
    ok: bool
    status: int | None
    code: str | None
    etag: str

    @property
    def what(self) -> str:
        return f"HTTP {self.status}" + (f" {self.code}" if self.code else "")

    @property
    def precondition_failed(self) -> bool:
        return not self.ok and (self.status == 412 or self.code == "PreconditionFailed")


async def _put(
    client: S3Client, key: str, body: bytes, headers: dict[str, str], *, alone: bool = True
) -> _Answer:
    """One PUT; a definite refusal is an answer, an outage or a credential problem raises.

    When a PUT sent ``alone`` (no other PUT in flight) was refused after a
    retry, its first attempt may have landed with its answer lost: if the
    object holds our bytes, that is its success.
    """
    md5 = content_md5(body)
    sent = {"Content-MD5": md5, "Content-Type": "application/octet-stream", **headers}
    sent_before = client.request_counts.get("PutObject", 0)
    try:
        response = await client.call("PutObject", "PUT", key, headers=sent, body=body)
    except S3Error as e:
        if e.transient or e.is_config_problem or e.status is None:
            raise
        retried = client.request_counts.get("PutObject", 0) - sent_before > 1
        if alone and retried:
            try:
                held = await get_object(client, key)
            except S3Error as missing:
                if not missing.not_found:
                    raise
            else:
                if held.body == body:
                    return _Answer(True, 200, None, held.etag)
        return _Answer(False, e.status, e.code, "")
    return _Answer(True, response.status, None, response.header("etag") or "")


def _form(etag: str, form: IfMatchForm) -> str:
    return f'"{bare_etag(etag)}"' if form == "quoted" else bare_etag(etag)


async def probe(client: S3Client, keys: KeyLayout, *, racers: int = RACERS) -> ProbeReport:
    """Try each conditional-write case on throwaway keys; report what to use.

    Raises ``S3Error`` only when the service cannot be used at all (down,
    wrong credentials): a service mishandling a condition is a report.
    """
    before = sum(client.request_counts.values())
    base = f"{keys.probe_root}{os.urandom(8).hex()}/"
    created = [base + "a", base + "missing"] + [f"{base}race{i}" for i in range(RACE_ROUNDS)]
    found = _Findings()
    form: IfMatchForm | None = None
    try:
        form = await _probe_keys(client, base, racers, found)
    finally:
        try:
            await delete_objects(client, created)
        except S3Error as e:
            log.warn(
                "S3: could not delete the conditional-write probe's keys under {base} ({error})",
                base=base,
                error=f"HTTP {e.status} {e.code or ''}".strip(),
            )
    conditions = ConditionalWrites(form) if form is not None and not found.problems else NONE
    used = sum(client.request_counts.values()) - before
    return ProbeReport(
        conditions, tuple(found.problems), tuple(found.quirks), used, tuple(found.doubts)
    )


async def _probe_keys(
    client: S3Client, base: str, racers: int, found: _Findings
) -> IfMatchForm | None:
    problems, quirks = found.problems, found.quirks
    key, missing, race = base + "a", base + "missing", base + "race"
    first = await _put(client, key, b"probe 1", {"If-None-Match": "*"})
    if not first.ok:
        problems.append(f"refuses a create-only PUT (If-None-Match: *) of a new key ({first.what})")
        return None
    if not first.etag:
        problems.append("answers a PUT without an ETag")
        return None
    again = await _put(client, key, b"probe 2", {"If-None-Match": "*"})
    etag = first.etag
    if again.ok:
        problems.append("ignores If-None-Match: * (a create-only PUT of an existing key succeeded)")
        etag = again.etag
    elif not again.precondition_failed:
        problems.append(f"answers a create-only PUT of an existing key with {again.what}, not 412")
    form: IfMatchForm | None = None
    quoted = await _put(client, key, b"probe 3", {"If-Match": _form(etag, "quoted")})
    if quoted.ok:
        form, current = "quoted", quoted.etag
    else:
        bare = await _put(client, key, b"probe 4", {"If-Match": _form(etag, "unquoted")})
        if not bare.ok:
            problems.append(
                "refuses If-Match with the object's current ETag, quoted"
                f" ({quoted.what}) and unquoted ({bare.what})"
            )
            return None
        quirks.append(
            f"refuses If-Match with the ETag quoted, the form it returns ETags in ({quoted.what}),"
            " but accepts it unquoted"
        )
        form, current = "unquoted", bare.etag
    if bare_etag(current) == bare_etag(etag):
        problems.append("gives a changed object the same ETag")
        return form
    stale = await _put(client, key, b"probe 5", {"If-Match": _form(etag, form)})
    if stale.ok:
        problems.append("ignores If-Match (a PUT with a stale ETag succeeded)")
    elif not stale.precondition_failed:
        problems.append(f"answers If-Match with a stale ETag with {stale.what}, not 412")
    absent = await _put(client, missing, b"probe 6", {"If-Match": _form(etag, form)})
    if absent.ok:
        problems.append("ignores If-Match on a key that does not exist (the PUT created it)")
    elif absent.status == 412:
        quirks.append("answers If-Match on a key that does not exist with 412 (AWS: 404)")
    await _races(client, race, racers, found)
    return form


async def _races(client: S3Client, key: str, racers: int, found: _Findings) -> None:
    """Create-only races on new keys: more than one winner in every round is a problem.

    A round with several winners is tried again (``RACE_ROUNDS`` in all): a
    service that ignores create-only loses every round, while one whose
    check is not always atomic (moto under load) is let through, noted.
    """
    multiple: list[int] = []
    for round_ in range(RACE_ROUNDS):
        wins = await _race(client, f"{key}{round_}", racers)
        if wins is None:
            found.problems.append(f"refused all {racers} concurrent create-only PUTs of a new key")
            return
        if wins <= 1:
            if multiple:
                found.doubts.append(
                    f"let {max(multiple)} of {racers} concurrent create-only PUTs of one key"
                    f" succeed in {len(multiple)} of {len(multiple) + 1} tries: its create-only"
                    " is not always atomic"
                )
            return
        multiple.append(wins)
    found.problems.append(
        f"let {min(multiple)} of {racers} concurrent create-only PUTs of one key succeed,"
        f" in each of {RACE_ROUNDS} tries (exactly one may)"
    )


async def _race(client: S3Client, key: str, racers: int) -> int | None:
    """``racers`` create-only PUTs of one new key at once: how many succeeded.

    None: every one was refused and none landed.
    """
    bodies = [b"probe race %d" % i for i in range(racers)]
    try:
        answers: list[_Answer] = await defer.gatherResults(
            [
                defer.Deferred.fromCoroutine(
                    _put(client, key, body, {"If-None-Match": "*"}, alone=False)
                )
                for body in bodies
            ],
            consumeErrors=True,
        )
    except defer.FirstError as e:
        raise e.subFailure.value from None  # type: ignore[misc]
    wins = sum(a.ok for a in answers)
    if wins:
        return wins
    # Every answer was a refusal: the winner's may have been lost and its
    # retry refused. The object then holds one of the bodies.
    try:
        held = (await get_object(client, key)).body
    except S3Error as e:
        if not e.not_found:
            raise
        return None
    return 1 if held in bodies else None


def choose(report: ProbeReport, *, required: bool, where: str) -> ConditionalWrites:
    """The conditional writes to use after ``report``; raise if they are required and broken.

    ``where`` names the service (its URL) in the message.
    """
    if report.usable:
        for quirk in report.quirks:
            log.info("S3: the service at {where} {quirk}", where=where, quirk=quirk)
        for doubt in report.doubts:
            log.warn("S3: the service at {where} {doubt}", where=where, doubt=doubt)
        return report.conditions
    found = f"the S3 service at {where} " + "; it ".join(report.problems)
    if required:
        raise ConditionalWritesUnsupported(
            f"{found}. Without working conditional writes a second writer of this bucket"
            " and prefix can overwrite mutable shares and leases unnoticed. Use a service"
            " that honours If-None-Match and If-Match on PUT, or set"
            " s3.conditional_writes = optional to run without them (docs/s3.md says what"
            " is then lost)"
        )
    log.warn(
        "S3: {found}; running without conditional writes (s3.conditional_writes = optional):"
        " nothing stops a second writer of this bucket and prefix from overwriting mutable"
        " shares and leases",
        found=found,
    )
    return NONE
