"""The storefront started before its own migration ran: not ready, and never a 500.

The harness's databases are fully migrated; here the storefront's own Alembic is taken
back to base (its real `db downgrade` command, as the storefront role), so only the
shared migrations have run, as on a server where someone forgot `db upgrade`.
"""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest
import sqlalchemy as sa

from apps.flask_app import create_app, migrate
from apps.flask_app.db import EXTENSION
from tests.flask_app.helpers import assert_error
from tests.reliability.conftest import (
    ROOT,
    STOREFRONT_WSGI,
    assert_no_traceback,
    gunicorn,
    storefront_env,
)

COMMAND = "flask --app apps.flask_app db upgrade"


def flask_db(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", *args],
        cwd=ROOT,
        env=storefront_env(url),
        capture_output=True,
        text=True,
        timeout=120,
    )


def invoke_db(app_config, *args: str) -> str:
    """``flask db ARGS`` through the app's own CLI, in process, as the storefront role."""
    app = create_app(app_config)
    try:
        result = app.test_cli_runner().invoke(args=["db", *args])
    finally:
        app.extensions[EXTENSION].dispose()
    assert result.exit_code == 0, result.output
    return result.output.strip()


@pytest.fixture
def unmigrated(app_config):
    """An app started after the storefront's own tables were taken back to base."""
    assert invoke_db(app_config, "downgrade", "base") == "storefront schema at base"
    app = create_app(app_config)
    try:
        yield app
    finally:
        app.extensions[EXTENSION].dispose()


@pytest.fixture
def unmigrated_client(unmigrated):
    return unmigrated.test_client()


def assert_migrations_pending(response) -> dict:
    details = assert_error(response, 503, "migrations_pending")
    assert COMMAND in response.get_json()["error"]["message"]
    assert details == {"current": None, "head": migrate.head(), "command": COMMAND}
    return details


def test_readyz_says_which_command_to_run(unmigrated_client):
    client = unmigrated_client
    assert client.get("/healthz").get_json() == {"status": "ok"}  # the process is up
    assert_migrations_pending(client.get("/readyz"))


def test_every_database_endpoint_is_a_json_503_not_a_500(unmigrated_client, shop):
    client = unmigrated_client
    shop.product("TEA-1", stock=5)
    assert_migrations_pending(
        client.post("/api/customers", json={"email": "a@example.com", "name": "A"})
    )
    bearer = {"Authorization": "Bearer mp_" + "x" * 43}
    assert_migrations_pending(
        client.post(
            "/api/orders", json={"lines": [{"sku": "TEA-1", "quantity": 1}]}, headers=bearer
        )
    )
    assert_migrations_pending(client.get("/api/orders/1", headers=bearer))
    assert_migrations_pending(client.get("/api/customers/me", headers=bearer))
    assert_migrations_pending(client.get("/api/products"))
    assert shop.count("customers") == 0
    # What needs no database still answers, and so do routing errors.
    assert client.get("/openapi.json").status_code == 200
    assert_error(client.get("/nope"), 404, "not_found")


def test_it_becomes_ready_once_migrated_without_a_restart(unmigrated_client, app_config):
    client = unmigrated_client
    assert_migrations_pending(client.get("/readyz"))
    assert invoke_db(app_config, "upgrade") == f"storefront schema at {migrate.head()}"
    assert client.get("/readyz").get_json() == {"status": "ready"}
    registered = client.post("/api/customers", json={"email": "a@example.com", "name": "A"})
    assert registered.status_code == 201, registered.get_json()


def test_once_migrated_the_check_costs_no_query(app, client):
    statements: list[str] = []
    sa.event.listen(
        app.extensions[EXTENSION],
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: statements.append(statement),
    )
    assert client.get("/readyz").status_code == 200
    statements.clear()
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/products").status_code == 200
    assert not [s for s in statements if "alembic_version" in s or "pg_catalog" in s], statements


def test_tables_dropped_behind_its_back_are_a_503_not_a_500(app, client, as_storefront):
    """The version table still says migrated, but the table is gone (dropped by hand)."""
    assert client.get("/readyz").status_code == 200  # migrated, and remembered
    as_storefront.execute("DROP TABLE storefront.api_tokens")
    response = client.post("/api/customers", json={"email": "a@example.com", "name": "A"})
    assert_error(response, 503, "schema_mismatch")
    assert "storefront.api_tokens" not in response.get_data(as_text=True)  # logged, not shown
    assert COMMAND in response.get_json()["error"]["message"]


def test_a_revision_from_a_newer_release_is_not_ready_and_says_so(app_config, as_storefront):
    as_storefront.execute("UPDATE storefront.alembic_version SET version_num = 'sf9999'")
    app = create_app(app_config)
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions[EXTENSION].dispose()
    details = assert_error(response, 503, "schema_mismatch")
    assert (details["current"], details["head"]) == ("sf9999", migrate.head())
    assert "does not know" in response.get_json()["error"]["message"]


def test_no_database_at_start_up_is_a_log_line_not_a_crash(fresh_db, caplog):
    url = fresh_db.url("storefront").replace(f"/{fresh_db.name}?", "/no_such_database?")
    app = create_app({"DATABASE_URL": url})
    try:
        assert_error(app.test_client().get("/readyz"), 503, "database_unavailable")
    finally:
        app.extensions[EXTENSION].dispose()
    assert [r.getMessage() for r in caplog.records if "start-up" in r.getMessage()]


@pytest.mark.slow
def test_under_gunicorn_the_log_says_it_once_and_no_request_is_a_500(fresh_db, tmp_path):
    url = fresh_db.url("storefront")
    downgraded = flask_db(url, "downgrade", "base")
    assert downgraded.returncode == 0, downgraded.stderr
    log = tmp_path / "storefront.log"
    with gunicorn(STOREFRONT_WSGI, storefront_env(url), log, probe="/healthz", workers=1) as sf:
        with httpx.Client(base_url=sf.base, timeout=10) as http:
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "migrations_pending"
            for method, path, body in [
                ("POST", "/api/customers", {"email": "a@example.com", "name": "A"}),
                ("POST", "/api/orders", {"lines": [{"sku": "TEA-1", "quantity": 1}]}),
                ("GET", "/api/products", None),
            ]:
                response = http.request(
                    method, path, json=body, headers={"Authorization": "Bearer mp_x"}
                )
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "migrations_pending"
            lines = [line for line in sf.output().splitlines() if COMMAND in line]
            assert len(lines) == 1, sf.output()  # one line at start-up, not one per request
            assert re.search(r"migrations pending", lines[0]), lines[0]

            upgraded = flask_db(url, "upgrade")
            assert upgraded.returncode == 0, upgraded.stderr
            assert http.get("/readyz").json() == {"status": "ready"}
            registered = http.post("/api/customers", json={"email": "a@example.com", "name": "A"})
            assert registered.status_code == 201, registered.text
    assert_no_traceback(sf)
