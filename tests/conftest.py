"""Shared fixtures: the database ones come from tests/harness.py (an early plugin)."""
