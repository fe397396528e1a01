"""Shared fixtures: the database ones come from tests/harness.py (an early plugin); the
test data builders from tests/data.py."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.data import Shop


@pytest.fixture
def owner(fresh_db) -> Iterator[psycopg.Connection]:
    """The owner's autocommit connection to a database of its own: checks what was written."""
    with fresh_db.connect(autocommit=True) as conn:
        yield conn


@pytest.fixture
def shop(fresh_db) -> Iterator[Shop]:
    """Test data in a database of its own, written as the role that would write it."""
    builder = Shop(fresh_db)
    try:
        yield builder
    finally:
        builder.close()
