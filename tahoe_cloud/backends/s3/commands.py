"""What ``tahoe-cloud check``, ``create-container`` and ``clean`` do for a cloud.s3 node.

Each takes the node's ``NodeConfig``, returns a line for the operator, and
raises ``ConfigError`` (naming file, section and key) or ``BackendError``
with a message to act on. They never print a secret.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from tahoe_cloud.backends.s3.admin import check_service
from tahoe_cloud.backends.s3.admin import create_container as _create
from tahoe_cloud.backends.s3.config import SECTION, parse_s3_config
from tahoe_cloud.backends.s3.config import make_client as _make_client
from tahoe_cloud.backends.s3.maintenance import ORPHAN_MIN_AGE, Maintenance
from tahoe_cloud.backends.s3.objectstore.errors import S3Error
from tahoe_cloud.backends.s3.objectstore.objects import get_object
from tahoe_cloud.backends.s3.probe import ConditionalWritesUnsupported, choose, probe

if TYPE_CHECKING:
    from tahoe_cloud.config import NodeConfig


def _where(bucket: str, prefix: str) -> str:
    return f"bucket {bucket!r}" + (f" (prefix {prefix!r})" if prefix else "")


async def check(config: NodeConfig, reactor: Any = None) -> str:
    """Validate the configuration and run the start-up checks, without serving.

    That includes the conditional-write probe, which writes and deletes a
    few throwaway keys under the prefix (never a share, lease or marker).
    """
    s3 = parse_s3_config(config)
    client = _make_client(s3, reactor)
    try:
        result = await check_service(client, time.time)
        report = await probe(client, s3.keys)
        try:
            conditions = choose(
                report, required=s3.require_conditional_writes, where=s3.address.url()
            )
        except ConditionalWritesUnsupported as e:
            raise (s3.describe(e) or e) from None
        owner = "nobody yet (this node will claim it at first start)"
        try:
            marker = await get_object(client, s3.keys.marker)
            owner = "node " + str(json.loads(marker.body).get("node", "?"))
        except S3Error as e:
            if not e.not_found:
                raise
        except (ValueError, AttributeError):
            owner = "an unreadable marker"
    except S3Error as e:
        mapped = s3.describe(e)
        raise (mapped or e) from None
    finally:
        await client.close()
    skew = "" if result.skew is None else f", clock offset {result.skew:+.1f} s"
    quirks = "".join(f"; the service {q}" for q in report.quirks + report.doubts)
    if not report.usable:
        quirks += "; the service " + "; it ".join(report.problems)
    return (
        f"OK: {_where(s3.address.bucket, s3.keys.prefix)} at {s3.address.url()} is reachable"
        f" with these credentials{skew}; owned by {owner}; conditional writes:"
        f" {conditions.describe()}{quirks}"
    )


async def create_container(config: NodeConfig, reactor: Any = None) -> str:
    """Create the configured bucket in the configured region; say so clearly if it exists."""
    s3 = parse_s3_config(config)
    client = _make_client(s3, reactor)
    try:
        created = await _create(client)
    except S3Error as e:
        if e.code == "BucketAlreadyExists":
            raise config.error(
                SECTION,
                "s3.bucket",
                f"the bucket name {s3.address.bucket!r} is taken by another account",
            ) from None
        mapped = s3.describe(e)
        raise (mapped or e) from None
    finally:
        await client.close()
    if created:
        return f"Created bucket {s3.address.bucket!r} in region {s3.region}."
    return f"Bucket {s3.address.bucket!r} already exists and belongs to you; nothing to do."


async def clean(config: NodeConfig, reactor: Any = None) -> str:
    """Delete what crashes left in the bucket (see ``Maintenance.collect_orphans``).

    Also aborts unfinished multipart uploads (left by a crash, or by an abort
    that failed during an outage). Objects and uploads younger than an hour are
    left alone; the ``clean`` command refuses to run while the node runs (see
    ``tahoe_cloud.node.runlock``).
    """
    s3 = parse_s3_config(config)
    client = _make_client(s3, reactor)
    chores = Maintenance(client, s3.keys, time.time)
    try:
        aborted = await chores.abort_stale_uploads(min_age=ORPHAN_MIN_AGE)
        deleted = await chores.collect_orphans(min_age=ORPHAN_MIN_AGE)
    except S3Error as e:
        mapped = s3.describe(e)
        raise (mapped or e) from None
    finally:
        await client.close()
    where = _where(s3.address.bucket, s3.keys.prefix)
    line = f"Deleted {deleted} orphaned object(s) from {where}."
    if aborted:
        line += f" Aborted {aborted} unfinished multipart upload(s)."
    return line
