"""Fixtures for the back office's tests.

The session database is the harness's clone of the migrated template (shared schema,
roles, the apps' own migrations, Django's migrate into ``backoffice``), and settings
already point at it: Django must use it as it is, never create or migrate a test
database of its own. ``db`` tests run in a transaction rolled back at the end; tests
that need other connections to see their writes use ``committed_db`` and unique rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.contrib.auth.models import Group, User
from django.db import connections

from apps.django_app.config import environment
from schema.paths import ROOT
from tests.data import Shop, unique

# What a pooled URL changes in Django's settings (environment.database reads the URL).
POOLED_SETTINGS = ("HOST", "PORT", "USER", "PASSWORD", "OPTIONS", "DISABLE_SERVER_SIDE_CURSORS")


@pytest.fixture(scope="module", autouse=True)
def backoffice_route(request, django_db_blocker) -> Iterator[str]:
    """Where the back office's connections go for a module: ``direct``, or ``pgbouncer``
    for modules marked ``through_pooler_module`` (their tests run both ways).

    Module-scoped so it is in place before pytest-django opens a test's transaction; the
    settings dictionary is Django's own, shared by every thread's connection.
    """
    route = getattr(request, "param", "direct")
    if route == "direct":
        yield route
        return
    handle = request.getfixturevalue("pgbouncer")
    session = request.getfixturevalue("session_db")
    pooled = environment.database({"BACKOFFICE_DATABASE_URL": handle.url(session, "backoffice")})
    target = connections.settings["default"]
    saved = {key: target[key] for key in POOLED_SETTINGS}
    with django_db_blocker.unblock():
        connections.close_all()
    target.update({key: pooled[key] for key in POOLED_SETTINGS})
    try:
        yield route
    finally:
        with django_db_blocker.unblock():
            connections.close_all()
        target.update(saved)


# A module's tests run twice: directly, and through the session's PgBouncer.
through_pooler_module = pytest.mark.parametrize(
    "backoffice_route", ["direct", "pgbouncer"], indirect=True, scope="module"
)


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker) -> Iterator[None]:
    """Use the harness's session database as it is (no create, no migrate, no flush)."""
    yield
    with django_db_blocker.unblock():
        connections.close_all()


@pytest.fixture
def committed_db(django_db_blocker) -> Iterator[None]:
    """Database access without a wrapping transaction: writes are committed for real.

    For races and for tests whose rows other connections must see. Django's flush (what
    ``transaction=True`` would do) skips unmanaged tables and would empty ``backoffice``,
    so these tests instead create uniquely named rows and assert only about those.
    """
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            connections.close_all()


@pytest.fixture
def shop(session_db) -> Iterator[Shop]:
    """Committed rows in the session database (Django's tests share it: unique names)."""
    builder = Shop(session_db)
    try:
        yield builder
    finally:
        builder.close()


@pytest.fixture
def storefront_conn(session_db) -> Iterator[psycopg.Connection]:
    with session_db.connect("storefront", autocommit=True) as conn:
        yield conn


def make_user(*, superuser: bool = False, clerk: bool = False, password: str | None = None) -> User:
    username = unique("staff").lower()
    if superuser:
        user = User.objects.create_superuser(username, f"{username}@example.test", password)
    else:
        user = User.objects.create_user(username, password=password, is_staff=True)
    if clerk:
        user.groups.add(Group.objects.get(name="clerks"))
    return user


@pytest.fixture
def superuser(db) -> User:
    return make_user(superuser=True)


@pytest.fixture
def clerk(db) -> User:
    return make_user(clerk=True)


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


MANAGE = str(ROOT / "apps" / "django_app" / "manage.py")


def manage_env(database) -> dict[str, str]:
    """The environment the back office's own commands run with on ``database``, no more."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "BACKOFFICE_DATABASE_URL": database.url("backoffice"),
        "DJANGO_SECRET_KEY": "x" * 50,
    }


@contextmanager
def consuming(database, *args: str) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """``manage.py consume_events *args`` as its own process, once it says it is consuming:
    the process and the lines it wrote until then. Killed if the block leaves it running."""
    process = subprocess.Popen(
        [sys.executable, MANAGE, "consume_events", *args],
        cwd=ROOT,
        env=manage_env(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "events: consuming" in line:
                break
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
