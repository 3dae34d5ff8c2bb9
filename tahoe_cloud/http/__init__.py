"""The HTTP storage protocol front end ("Great Black Swamp") on twisted.web.

``storage_resource(server, swissnum)`` is the resource for the storage
listener, served through ``storage_site`` (bounded request bodies);
``lease_view_resource`` is a test-only view of lease state, mounted only on
a separate listener when a test configuration asks for it.
"""

from tahoe_cloud.http.body import Limits, storage_site
from tahoe_cloud.http.lease_view import lease_view_resource
from tahoe_cloud.http.resource import storage_resource

__all__ = ["Limits", "lease_view_resource", "storage_resource", "storage_site"]
