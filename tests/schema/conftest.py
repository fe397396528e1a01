from __future__ import annotations

import os

import pytest


@pytest.fixture
def empty_db(pg):
    """A database with nothing in it, owned by the non-superuser owner."""
    name = f"{pg.prefix}e{os.urandom(3).hex()}"
    database = pg.create(name)
    try:
        yield database.owner_url
    finally:
        pg.drop(name)
