"""tahoe-cloud: a Tahoe-LAFS storage server whose share storage is pluggable.

Layers, outermost first (see docs/architecture.md):

- ``tahoe_cloud.http``: the HTTPS storage protocol front end (GBS).
- ``tahoe_cloud.server``: storage-server semantics, enforced once for every backend.
- ``tahoe_cloud.backends.interfaces``: the small interfaces a backend implements.
- ``tahoe_cloud.backends.*``: the backends (``disk``, ``cloud.s3``, ``memory``).
- ``tahoe_cloud.formats``: upstream's share container byte formats.
- ``tahoe_cloud.config``, ``tahoe_cloud.node``, ``tahoe_cloud.cli``: the process around it.
"""

__version__ = "0.1.0.dev0"
