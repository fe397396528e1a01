"""What the end-to-end tests share: `mergepoint up` in a subprocess, and its environment."""

from __future__ import annotations

import pytest


@pytest.fixture
def up_env(fresh_db, tmp_path):
    env = fresh_db.env()
    env["MERGEPOINT_DATA_DIR"] = str(tmp_path / "data")
    env["MERGEPOINT_ADMIN_USER"] = "staff"
    env["MERGEPOINT_ADMIN_PASSWORD"] = "correct-horse-battery"
    for var in ("STOREFRONT_DATABASE_URL", "BACKOFFICE_DATABASE_URL", "DJANGO_SECRET_KEY"):
        env.pop(var, None)  # up gives each app its own
    return env
