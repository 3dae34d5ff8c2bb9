"""A plain client of one S3 bucket: it knows objects, keys and requests, nothing of shares.

``client`` signs (``signing``), sends (``transport``, over any ``IAgent``),
checks and retries (``retry``) each request, and turns error answers into
``errors.S3Error``; the verbs beside it build the requests: ``objects``
(PUT, ranged GET, HEAD, DELETE), ``listing`` (ListObjectsV2),
``multipart``. ``addressing`` builds every URL; ``conditions`` holds the
form of conditional PUT the service honours. Nothing here imports the rest
of ``tahoe_cloud.backends.s3``.
"""
