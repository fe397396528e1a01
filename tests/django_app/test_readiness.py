"""The back office started before its `manage.py migrate`: a clear 503, never a 500.

Django's own warning ("You have N unapplied migrations") is printed by runserver only;
under gunicorn every admin page was a 500 (relation "django_session" does not exist).
"""

from __future__ import annotations

import httpx
import psycopg
import pytest
from django.db import OperationalError, connection
from django.http import HttpResponse
from psycopg import sql

from apps.django_app.backoffice import readiness
from apps.django_app.backoffice.middleware import RequireMigrationsMiddleware
from tests.django_app.test_migrate import drop_django_tables, migrate
from tests.reliability.conftest import (
    BACKOFFICE_WSGI,
    assert_no_traceback,
    backoffice_env,
    gunicorn,
)

COMMAND = "python apps/django_app/manage.py migrate"


def test_healthz_and_readyz_when_migrated(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.get("/admin/login/").status_code == 200


@pytest.fixture
def djangos_tables_hidden(db):
    """Django's tables renamed away inside the test's transaction (rolled back after it),
    as the backoffice role that owns them; the readiness cache starts and ends empty."""
    readiness.forget()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'backoffice'")
        for (table,) in cursor.fetchall():
            cursor.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}")
                .format(sql.Identifier("backoffice", table), sql.Identifier(f"hidden_{table}"))
                .as_string(connection.connection)
            )
    yield
    readiness.forget()


def test_every_page_is_a_503_naming_the_command(client, djangos_tables_hidden):
    for path in ("/admin/login/", "/admin/", "/", "/admin/backoffice/order/"):
        response = client.get(path)
        assert response.status_code == 503, path
        page = response.content.decode()
        assert COMMAND in page and "not migrated" in page, page
    login = client.post("/admin/login/", {"username": "a", "password": "b"})
    assert login.status_code == 503
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_a_503_listing_the_pending_migrations(client, djangos_tables_hidden):
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "migrations_pending"
    assert COMMAND in error["message"]
    assert error["details"]["command"] == COMMAND
    assert "backoffice.0002_clerks_group" in error["details"]["pending"]
    assert "sessions.0001_initial" in error["details"]["pending"]


def test_once_migrated_the_check_costs_no_query(client, db, django_assert_num_queries):
    assert client.get("/readyz").status_code == 200
    with django_assert_num_queries(1):  # readyz's own SELECT 1, nothing about migrations
        assert client.get("/readyz").status_code == 200
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200


def test_a_table_dropped_behind_its_back_is_a_503_not_a_500(superuser_client):
    client = superuser_client  # signed in: each page reads its session
    assert client.get("/readyz").status_code == 200  # migrated, and remembered
    try:
        with connection.cursor() as cursor:  # inside the test's transaction: rolled back
            cursor.execute("ALTER TABLE backoffice.django_session RENAME TO hidden_session")
        response = client.get("/admin/")
        assert response.status_code == 503
        assert COMMAND in response.content.decode()
    finally:
        readiness.forget()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody@127.0.0.1:1/x",  # refused: a pooler or server that is down
        "postgresql://nobody@/x?host=/nonexistent",  # no socket
    ],
)
def test_a_lost_connection_without_sqlstate_is_a_503_page_not_a_500(rf, url):
    """psycopg reports a refused or dropped connection with no SQLSTATE at all (seen with
    PgBouncer killed under load): the page says the database is away, with a 503."""
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect(url, connect_timeout=2)
    assert raised.value.sqlstate is None
    error = OperationalError(str(raised.value))
    error.__cause__ = raised.value  # as Django's DatabaseErrorWrapper raises it
    middleware = RequireMigrationsMiddleware(lambda request: HttpResponse())
    response = middleware.process_exception(rf.get("/admin/backoffice/order/"), error)
    assert response is not None and response.status_code == 503
    assert "cannot reach its database" in response.content.decode()


@pytest.mark.slow
def test_under_gunicorn_a_fresh_back_office_says_so_then_becomes_ready(fresh_db, tmp_path):
    with fresh_db.connect("backoffice", autocommit=True) as backoffice:
        drop_django_tables(backoffice)  # only the shared migrations have run
    url = fresh_db.url("backoffice")
    log = tmp_path / "backoffice.log"
    with gunicorn(BACKOFFICE_WSGI, backoffice_env(url), log, probe="/healthz", workers=1) as bo:
        with httpx.Client(base_url=bo.base, timeout=10) as http:
            for path in ("/admin/login/", "/admin/", "/"):
                response = http.get(path)
                assert response.status_code == 503, (path, response.text)
                assert COMMAND in response.text
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "migrations_pending"
            # The admin's CSS needs no database (WhiteNoise answers before the check).
            assert http.get("/static/admin/css/base.css").status_code == 200
            lines = [line for line in bo.output().splitlines() if COMMAND in line]
            assert len(lines) == 1, bo.output()  # at start-up, in one line
            assert lines[0].startswith("back office not ready: "), lines[0]

            migrated = migrate(url)
            assert migrated.returncode == 0, migrated.stderr
            assert http.get("/readyz").json() == {"status": "ready"}
            login = http.get("/admin/login/")
            assert login.status_code == 200
            assert 'name="username"' in login.text
    assert_no_traceback(bo)
