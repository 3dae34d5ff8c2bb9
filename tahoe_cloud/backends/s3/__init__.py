"""The ``cloud.s3`` backend: shares in Amazon S3 or an S3-compatible service (see docs/s3.md)."""

from __future__ import annotations

from tahoe_cloud.backends.s3.config import create_backend

__all__ = ["create_backend"]
