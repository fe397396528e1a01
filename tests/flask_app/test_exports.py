"""A customer's data export: requested over HTTP (202 + Location), made by the storefront's
worker (procrastinate's own command), fetched when done, gone when expired."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
import sqlalchemy as sa

from apps.flask_app import exports
from apps.flask_app.db import make_engine
from apps.flask_app.errors import ConfigError
from apps.flask_app.jobs import worker_conninfo
from schema.paths import ROOT
from tests.flask_app.helpers import assert_error

EXPORT = "/api/customers/me/export"


def jobs(database, task: str = "storefront.export_customer_data") -> list[tuple]:
    with database.connect(autocommit=True) as owner:
        return owner.execute(
            "SELECT id, status::text, args FROM tasks.procrastinate_jobs WHERE task_name = %s",
            [task],
        ).fetchall()


def run_worker(database, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The storefront's worker as its users run it, until its queue is empty."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "STOREFRONT_DATABASE_URL": database.url("storefront"),
    }
    argv = [sys.executable, "-m", "procrastinate", "--app", "apps.flask_app.jobs.app"]
    argv += ["worker", "--queues", "storefront", "--one-shot"]
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_an_export_is_pending_then_made_by_the_worker_then_served(
    client, database, alice, bob, shop
):
    product = shop.product(stock=5, price=450)
    order = shop.order({product: 2}, customer=alice.id, status="shipped")
    response = client.post(EXPORT, headers=alice.headers)
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith("/api/customers/me/exports/")
    assert response.get_json()["status"] == "pending"
    assert response.headers["Retry-After"] == "1"
    # Asking again while it is pending answers the same export; nothing more is deferred.
    assert client.post(EXPORT, headers=alice.headers).headers["Location"] == location
    assert [status for _id, status, _args in jobs(database)] == ["todo"]
    pending = client.get(location, headers=alice.headers)
    assert pending.status_code == 202 and pending.get_json()["status"] == "pending"

    finished = run_worker(database)
    assert finished.returncode == 0, finished.stderr
    assert jobs(database) == []  # a succeeded job is deleted: the export keeps the record

    done = client.get(location, headers=alice.headers)
    assert done.status_code == 200
    body = done.get_json()
    assert body["customer"]["email"] == alice.email
    assert [o["id"] for o in body["orders"]] == [order]
    assert body["orders"][0]["lines"][0]["quantity"] == 2
    assert body["notifications"] == []
    # Another customer does not see it; a new export can be asked for now.
    assert_error(client.get(location, headers=bob.headers), 404, "export_not_found")
    assert client.post(EXPORT, headers=alice.headers).headers["Location"] != location


def test_an_expired_export_is_gone(client, database, alice):
    location = client.post(EXPORT, headers=alice.headers).headers["Location"]
    engine = make_engine(database.url("storefront"), pool_size=1)
    try:
        with engine.begin() as conn:
            export_id = conn.execute(sa.text("SELECT id FROM storefront.data_exports")).scalar_one()
            assert exports.build(conn, export_id)
            assert not exports.build(conn, export_id)  # made once
        assert client.get(location, headers=alice.headers).status_code == 200
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE storefront.data_exports SET expires_at = now()"))
        assert_error(client.get(location, headers=alice.headers), 404, "export_not_found")
        with engine.begin() as conn:
            assert exports.prune(conn) == 1
    finally:
        engine.dispose()


def test_a_deferral_rolled_back_leaves_no_job(database, alice):
    """The job is written on the SQLAlchemy transaction's own connection: if the business
    transaction rolls back, the job was never there."""
    engine = make_engine(database.url("storefront"), pool_size=1)
    try:
        with engine.connect() as conn:
            public_id, new = exports.request_export(conn, alice.id)
            assert new and len(jobs(database)) == 0  # not committed: not visible to others
            with conn.connection.driver_connection.cursor() as cur:
                cur.execute("SELECT count(*) FROM procrastinate_jobs")
                assert cur.fetchone() == (1,)  # but there, in this transaction
            conn.rollback()
        assert jobs(database) == []
        with database.connect(autocommit=True) as owner:
            assert owner.execute("SELECT count(*) FROM storefront.data_exports").fetchone() == (0,)
    finally:
        engine.dispose()


def test_exports_need_a_token_and_unknown_ones_are_404(client, alice):
    assert_error(client.post(EXPORT), 401, "unauthorized")
    assert_error(
        client.get("/api/customers/me/exports/nope", headers=alice.headers), 404, "export_not_found"
    )


def test_the_export_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    post = paths["/api/customers/me/export"]["post"]
    assert "Location" in post["responses"]["202"]["headers"]
    get = paths["/api/customers/me/exports/{export_id}"]["get"]
    assert set(get["responses"]) >= {"200", "202", "404"}


def test_the_worker_refuses_a_pooled_or_missing_url_in_one_line():
    with pytest.raises(ConfigError, match="STOREFRONT_DIRECT_DATABASE_URL"):
        worker_conninfo("postgresql://storefront@127.0.0.1:6432/db?pooler=transaction")
    with pytest.raises(ConfigError, match="is not set"):
        worker_conninfo(None)
    conninfo = worker_conninfo("postgresql://sf:pw@/db?host=%2Ftmp%2Fx&prepare_threshold=5")
    assert psycopg.conninfo.conninfo_to_dict(conninfo) == {
        "user": "sf", "password": "pw", "dbname": "db", "host": "/tmp/x",
        "application_name": "storefront-worker",
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "procrastinate", "--app", "apps.flask_app.jobs.app", "worker"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("STOREFRONT_DATABASE_URL is not set")
