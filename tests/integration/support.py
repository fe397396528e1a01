"""`mergepoint up` in a subprocess, and logging in to its back office, for the e2e tests."""

from __future__ import annotations

import os
import re
import sys

import httpx

from schema.paths import ROOT
from tests.support import Watched


class Up(Watched):
    """A running `mergepoint up`, its output collected line by line."""

    TIMEOUT = 120.0

    def __init__(self, env: dict[str, str], *args: str) -> None:
        super().__init__([sys.executable, "-m", "schema.cli", "up", *args], env)


def admin_login(client: httpx.Client, base: str, prefix: str = "") -> None:
    """Log in as `up`'s staff user through the admin's form, with its CSRF token; ``base``
    is the server, ``prefix`` where the back office is mounted on it."""
    page = client.get(f"{base}{prefix}/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        f"{base}{prefix}/admin/login/?next={prefix}/admin/",
        data={"csrfmiddlewaretoken": token, "username": "staff",
              "password": "correct-horse-battery", "next": f"{prefix}/admin/"},
        headers={"Referer": f"{base}{prefix}/admin/login/", "Origin": base},
    )  # fmt: skip
    assert response.status_code == 302, response.text
    assert response.headers["location"] == f"{prefix}/admin/", response.headers


def app_env(database, **extra: str) -> dict[str, str]:
    """Only what the apps read: each one's URL, the back office's secret; nothing else."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "STOREFRONT_DATABASE_URL": database.url("storefront"),
        "BACKOFFICE_DATABASE_URL": database.url("backoffice"),
        "DJANGO_SECRET_KEY": "one-host-test-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        **extra,
    }
