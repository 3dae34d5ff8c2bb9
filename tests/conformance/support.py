"""The conformance kit's helpers, under the name tahoe-cloud's S3 tests import them by.

They live in ``tahoe_cloud.testing.support``; new code imports them from there.
"""

from tahoe_cloud.testing.support import (
    DAY,
    NODEID,
    START_TIME,
    SharedBackend,
    lease_secrets,
    make_server,
    new_si,
    upload_secret,
    upload_share,
    write_enabler,
)

__all__ = [
    "DAY",
    "NODEID",
    "START_TIME",
    "SharedBackend",
    "lease_secrets",
    "make_server",
    "new_si",
    "upload_secret",
    "upload_share",
    "write_enabler",
]
