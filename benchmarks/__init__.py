"""Benchmarks of tahoe-cloud against an upstream Tahoe-LAFS 1.20 storage node and raw S3.

Run them all with ``./dev bench`` (or ``.venv/bin/python -m benchmarks``); the
report goes to ``docs/benchmarks.md``. Not part of the test suite: only a smoke
run of the load generator is (tests/benchmarks/).
"""
