"""``BackendSuite``: every test of the kit in one class, for a backend's test module to subclass."""

from __future__ import annotations

from tahoe_cloud.testing.enumeration import EnumerationTests
from tahoe_cloud.testing.immutable import ImmutableTests
from tahoe_cloud.testing.leases import LeaseAndMiscTests
from tahoe_cloud.testing.model import MutableModelTests
from tahoe_cloud.testing.mutable import MutableTests
from tahoe_cloud.testing.properties import ImmutablePropertyTests
from tahoe_cloud.testing.restart import RestartTests


class BackendSuite(
    ImmutableTests,
    MutableTests,
    LeaseAndMiscTests,
    ImmutablePropertyTests,
    MutableModelTests,
    RestartTests,
    EnumerationTests,
):
    """The whole conformance suite: define ``make_backend`` (and ``reopen_backend``) in a subclass.

    Its name does not start with ``Test``, so pytest collects only subclasses.
    """
