"""Shared pytest configuration: Twisted's reactor runs under pytest-twisted."""
