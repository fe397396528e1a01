"""A streaming read replica of an embedded server of this test's own, made and used with
the CLI: reports on it while orders are written to the primary, writes refused on it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from apps.flask_app import create_app
from apps.flask_app.db import EXTENSION
from schema import migrations, replica, roles, stack
from schema.paths import ROOT
from schema.urls import to_libpq, with_user
from tests.support import exports, one_line_error

# One worker runs them all: they share one server and its replica (made once).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("replica")]


def mergepoint(env: dict[str, str], *args: str, check: bool = True):
    result = subprocess.run(
        [sys.executable, "-m", "schema.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def primary():
    """An embedded server of its own (a short path: its socket lives in its directory),
    migrated and seeded, with a replica; both stopped and deleted afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="mp-rep-"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "MERGEPOINT_DATA_DIR": str(directory),
    }
    try:
        owner = mergepoint(env, "db", "start").stdout.split(": ", 1)[1].strip()
        migrations.upgrade(owner)  # what `mergepoint migrate` does, less its vetting
        roles.reconcile(owner)
        storefront = with_user(owner, "storefront")
        stack.run_app_migrations({"storefront": stack.app_env("storefront", storefront, env)})
        mergepoint(env, "seed", "--customers", "50", "--products", "10", "--orders", "200")
        yield directory, env, owner
    finally:
        try:
            mergepoint(env, "db", "replica", "stop", "--remove", check=False)
        finally:
            mergepoint(env, "db", "stop", check=False)
            shutil.rmtree(directory, ignore_errors=True)


def test_replica_start_status_env_and_reports_while_orders_are_written(primary):
    directory, env, owner = primary
    started = mergepoint(env, "db", "replica", "start")
    lines = started.stdout.splitlines()
    assert lines[0] == f"replica: started ({directory / 'replica'})"
    assert re.match(r"  \d+ bytes behind the primary \(replayed [0-9A-F/]+", lines[1]), lines
    # The copy dropped the primary's socket lock; the standby made its own.
    with psycopg.connect(to_libpq(replica.superuser_url(directory / "replica"))) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert conn.execute("SHOW hot_standby_feedback").fetchone() == ("on",)
    with psycopg.connect(to_libpq(replica.superuser_url(directory / "pgdata"))) as conn:
        slot = conn.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [replica.SLOT]
        ).fetchone()
    assert slot == (True,)  # streaming through its slot

    urls = exports(mergepoint(env, "env").stdout)
    assert urls["REPORTING_DATABASE_URL"] == replica.role_url(directory, "reporting", "mergepoint")
    assert "replica" not in urls["STOREFRONT_DATABASE_URL"]  # the apps read their own writes

    # Orders go on on the primary (as the storefront writes them) while reports run.
    stop = threading.Event()
    placed: list[int] = []

    with psycopg.connect(to_libpq(owner), autocommit=True) as conn:
        customer, product = conn.execute(
            "SELECT (SELECT min(id) FROM shop.customers),"
            " (SELECT min(id) FROM shop.products WHERE active)"
        ).fetchone()
    with psycopg.connect(to_libpq(with_user(owner, "backoffice")), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " VALUES (%s, 1000, 'restock')",
            [product],
        )

    def write() -> None:
        url = with_user(owner, "storefront")
        with psycopg.connect(to_libpq(url), autocommit=True) as conn:
            while not stop.is_set():
                with conn.transaction():
                    (order,) = conn.execute(
                        "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id",
                        [customer],
                    ).fetchone()
                    conn.execute(
                        "INSERT INTO shop.order_lines (order_id, product_id, quantity)"
                        " VALUES (%s, %s, 1)",
                        [order, product],
                    )
                placed.append(order)
                if len(placed) >= 400:
                    break

    writer = threading.Thread(target=write)
    writer.start()
    try:
        reports = [
            mergepoint(env, "report", "run", name, "--format", "json")
            for name in ("sales_by_day", "order_status_funnel", "ledger_audit")
        ]
    finally:
        stop.set()
        writer.join(60)
    assert placed, "no order was written meanwhile"
    funnel = json.loads(reports[1].stdout)
    assert sum(row["orders"] for row in funnel) >= 200
    assert json.loads(reports[2].stdout) == []  # the ledger is whole, on the replica too

    # Once caught up, the replica has every order the primary has.
    replica_owner = replica.role_url(directory, "mergepoint", "mergepoint")
    lag = replica.wait_caught_up(owner, replica_owner)
    assert lag.bytes == 0
    counts = []
    for url in (owner, replica_owner):
        with psycopg.connect(to_libpq(url)) as conn:
            counts.append(conn.execute("SELECT count(*), max(id) FROM shop.orders").fetchone())
    assert counts[0] == counts[1] and counts[0][1] == placed[-1]
    status = mergepoint(env, "db", "replica", "status")
    assert status.stdout.splitlines()[1].startswith("  0 bytes behind the primary")


def test_a_write_on_the_replica_is_refused_with_a_clear_error(primary):
    directory, env, owner = primary
    mergepoint(env, "db", "replica", "start")
    replica_owner = replica.role_url(directory, "mergepoint", "mergepoint")
    with psycopg.connect(to_libpq(replica_owner), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"):
            conn.execute("INSERT INTO shop.customers (email, name) VALUES ('x@y.z', 'X')")
    # The CLI pointed at it: one line naming what to do.
    result = mergepoint(
        {**env, "MERGEPOINT_DATABASE_URL": replica_owner},
        "db",
        "password",
        "storefront",
        check=False,
    )
    assert result.returncode == 1
    one_line_error(result.stderr, "read-only", "point MERGEPOINT_DATABASE_URL at the primary")
    # The storefront pointed at it: reads work, a write is a 503 that says why.
    url = replica.role_url(directory, "storefront", "mergepoint")
    app = create_app({"DATABASE_URL": url})
    try:
        client = app.test_client()
        assert client.get("/api/products").status_code == 200
        response = client.post("/api/customers", json={"email": "r@example.com", "name": "R"})
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "database_read_only"
    finally:
        app.extensions[EXTENSION].dispose()


def test_stop_then_start_catches_up_and_remove_drops_the_slot(primary):
    directory, env, owner = primary
    mergepoint(env, "db", "replica", "start")
    assert mergepoint(env, "db", "replica", "stop").stdout.strip() == "replica: stopped"
    down = mergepoint(env, "db", "replica", "status", check=False)
    assert down.returncode == 3 and down.stdout.startswith("replica: not running")
    with psycopg.connect(to_libpq(owner), autocommit=True) as conn:  # written while it is down
        conn.execute("SELECT count(*) FROM shop.orders")
    again = mergepoint(env, "db", "replica", "start")
    assert again.stdout.startswith("replica: started")  # the same copy, resumed
    replica.wait_caught_up(owner, replica.role_url(directory, "mergepoint", "mergepoint"))
    removed = mergepoint(env, "db", "replica", "stop", "--remove")
    assert removed.stdout.splitlines() == [
        "replica: stopped",
        "replica: removed its copy and replication slot",
    ]
    assert not (directory / "replica").exists()
    with psycopg.connect(to_libpq(replica.superuser_url(directory / "pgdata"))) as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)
    # Reports are back on the primary.
    urls = exports(mergepoint(env, "env").stdout)
    assert "replica" not in urls["REPORTING_DATABASE_URL"]


def test_replica_commands_need_the_embedded_server(fresh_db):
    env = {**os.environ, "MERGEPOINT_DATABASE_URL": fresh_db.owner_url}
    result = mergepoint(env, "db", "replica", "start", check=False)
    assert result.returncode == 1
    one_line_error(result.stderr, "MERGEPOINT_DATABASE_URL names another server")
