"""The start-up check of the service, and creating the bucket (``create-container``).

``check_service`` is what ``run`` does before it listens (and ``tahoe-cloud
check`` does alone): one HEAD of the bucket, with few, quick retries so an
unreachable URL fails in seconds, not minutes. It tells apart, with a
message for each: wrong secret, unknown key, missing bucket, unreachable
URL, and a clock more than 15 minutes off the service's.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

from tahoe_cloud.backends.s3.objectstore.client import S3Client
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.retry import Retrier, RetryPolicy, skew_from_date

# S3 refuses requests signed more than 15 minutes away from its clock.
MAX_SKEW = 15 * 60

STARTUP_POLICY = RetryPolicy(max_attempts=3, max_total_time=10.0, base_delay=0.2, max_delay=2.0)


@frozen
class StartupCheck:
    """What the start-up check learned."""

    skew: float | None  # seconds the service's clock is ahead of ours (None: no Date header)


async def check_service(client: S3Client, clock: Callable[[], float]) -> StartupCheck:
    """HEAD the bucket with quick retries; raise ``S3Error`` naming the problem.

    A clock more than 15 minutes off raises ``S3Error`` with the code
    ``RequestTimeTooSkewed`` even though a corrected signature would work:
    the operator must fix the clock rather than run on a correction.
    """
    retrier = Retrier(client.reactor, client.signer, STARTUP_POLICY, local_clock=clock)
    response = await client.head_bucket(retrier=retrier)
    skew = skew_from_date(response.header("date"), clock())
    corrected = client.signer.clock_offset
    if corrected and (skew is None or abs(corrected) > abs(skew)):
        skew = corrected
    if skew is not None and abs(skew) > MAX_SKEW:
        raise S3Error(
            "HeadBucket",
            response.status,
            "RequestTimeTooSkewed",
            f"this machine's clock is {skew:+.0f} s off the S3 service's; fix it (NTP)",
        )
    return StartupCheck(skew)


async def create_container(client: S3Client) -> bool:
    """Create the configured bucket in the configured region; False if it already exists (ours).

    Raises ``S3Error`` (e.g. ``BucketAlreadyExists``: the name is taken by
    another account) with the service's code.
    """
    try:
        await client.head_bucket(retrier=Retrier(client.reactor, client.signer, STARTUP_POLICY))
        return False  # us-east-1 would answer 200 to a second create: ask first
    except S3Error as e:
        if e.code != "NoSuchBucket":
            raise
    return await client.create_bucket()
