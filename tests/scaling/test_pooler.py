"""PgBouncer live (Debian's 1.18): the CLI that runs it, what reaches a pooled session,
what a pooled session must not do, and the harness's own use of it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import psycopg
import pytest
from click.testing import CliRunner

from apps.flask_app import create_app
from apps.flask_app.db import EXTENSION
from schema import pooler
from schema.cli import main
from schema.paths import ROOT
from schema.urls import to_libpq, with_params
from tests.concurrency import race
from tests.support import exports, free_port, one_line_error


def connect(url: str, **kwargs) -> psycopg.Connection:
    kwargs.setdefault("prepare_threshold", None)
    return psycopg.connect(to_libpq(url), autocommit=True, **kwargs)


# --- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli(fresh_db, foreign_tmp):
    env = {
        "MERGEPOINT_DATABASE_URL": fresh_db.owner_url,
        "MERGEPOINT_ROLE_PREFIX": fresh_db.prefix,
        "MERGEPOINT_DATA_DIR": str(foreign_tmp / "data"),
        "STOREFRONT_DATABASE_URL": None,
        "BACKOFFICE_DATABASE_URL": None,
        "REPORTING_DATABASE_URL": None,
    }

    def run(*args: str):
        return CliRunner().invoke(main, list(args), env=env)

    yield run
    run("db", "pooler", "stop")


def test_pooler_start_status_env_check_stop(cli, fresh_db, foreign_tmp):
    port = free_port()
    started = cli("db", "pooler", "start", "--port", str(port), "--pool-size", "4")
    assert started.exit_code == 0, started.output
    assert started.output.startswith(f"pooler: started PgBouncer 1.18 on 127.0.0.1:{port}")
    assert "4 server connections per role" in started.output
    again = cli("db", "pooler", "start", "--port", str(port))
    assert again.output.strip() == f"pooler: already running on 127.0.0.1:{port}"

    urls = exports(cli("env").output)
    web, direct = urls["STOREFRONT_DATABASE_URL"], urls["STOREFRONT_DIRECT_DATABASE_URL"]
    assert web.endswith(f"@127.0.0.1:{port}/{fresh_db.name}?pooler=transaction")
    assert "pooler" not in direct and f":{port}" not in direct
    assert "pooler" not in urls["MERGEPOINT_DATABASE_URL"]  # the owner: always direct
    assert "pooler" not in urls["REPORTING_DATABASE_URL"]
    with connect(urls["BACKOFFICE_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (f"{fresh_db.prefix}backoffice",)

    status = cli("db", "pooler", "status")
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0].startswith("pooler: running (pid ")
    assert lines[1].split() == ["database", "user", "clients", "active", "waiting", "servers",
                                "active", "idle"]  # fmt: skip
    assert any(f"{fresh_db.prefix}backoffice" in line for line in lines[2:]), lines

    # `mergepoint check` with the apps' variables leading to the pooler, as on an app host.
    check = subprocess.run(
        [sys.executable, "-m", "schema.cli", "check"],
        cwd=ROOT,
        env={**os.environ, **urls, "MERGEPOINT_DATA_DIR": str(foreign_tmp / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "consumers: all satisfied (backoffice, storefront)" in check.stdout

    assert cli("db", "pooler", "stop").output.strip() == "pooler: stopped"
    stopped = cli("db", "pooler", "status")
    assert stopped.exit_code == 3 and stopped.output.startswith("pooler: not running")
    after = exports(cli("env").output)
    assert after["STOREFRONT_DATABASE_URL"] == after["STOREFRONT_DIRECT_DATABASE_URL"]


def test_a_missing_pgbouncer_is_one_line_naming_the_package(cli, fresh_db, tmp_path):
    env = {
        "MERGEPOINT_DATABASE_URL": fresh_db.owner_url,
        "MERGEPOINT_DATA_DIR": str(tmp_path / "data"),
        "PATH": str(tmp_path),  # nothing there
    }
    result = CliRunner().invoke(main, ["db", "pooler", "start"], env=env)
    assert result.exit_code == 1
    one_line_error(result.output, "pgbouncer is not installed", "apt-get install pgbouncer")


def test_a_port_in_use_is_one_line(cli):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("db", "pooler", "start", "--port", str(port))
    assert result.exit_code == 1
    one_line_error(result.output, f"port {port} on 127.0.0.1 is not available", "--port")


def test_the_owner_never_connects_through_a_pooler(fresh_db):
    url = with_params(fresh_db.owner_url, pooler="transaction")
    result = CliRunner().invoke(main, ["current"], env={"MERGEPOINT_DATABASE_URL": url})
    assert result.exit_code == 1
    one_line_error(result.output, "leads to a pooler", "the owner always connects directly")


# --- a pooled session ------------------------------------------------------------------------


def test_role_settings_reach_pooled_sessions_and_startup_options_are_refused(fresh_db, pgbouncer):
    with connect(pgbouncer.url(fresh_db, "backoffice")) as conn:
        row = conn.execute(
            "SELECT current_setting('search_path'), current_setting('TimeZone'),"
            " current_setting('statement_timeout')"
        ).fetchone()
        assert row == ("backoffice, shop, tasks", "UTC", "30s")
        # What Django checks before it would `SET TIME ZONE`: nothing to set.
        assert conn.info.parameter_status("TimeZone") == "UTC"
    with connect(pgbouncer.url(fresh_db, "storefront")) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("10s",)
    # PgBouncer refuses startup options: they would not survive the next transaction.
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        connect(pgbouncer.url(fresh_db, "backoffice"), options="-c search_path=public")


def test_the_pooler_holds_at_most_pool_size_server_connections_per_role(fresh_db, pgbouncer):
    """Sixty clients at once, twenty server connections (the harness's pool size)."""
    role = f"{fresh_db.prefix}storefront"
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        with fresh_db.connect(autocommit=True) as owner:
            while not done.is_set():
                seen.append(
                    owner.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role]
                    ).fetchone()[0]
                )
                time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()

    def client(i: int) -> int:
        with connect(pgbouncer.url(fresh_db, "storefront")) as conn:
            return conn.execute("SELECT 1 FROM pg_sleep(0.2)").fetchone()[0]

    try:
        results = race(60, client)
    finally:
        done.set()
        sampler.join()
    assert results == [1] * 60
    assert 1 <= max(seen) <= pgbouncer.config.pool_size == 20, max(seen)


def storefront_reads(url: str, n: int = 200, threads: int = 8) -> Counter:
    """``n`` GET /api/products through the storefront on ``url``, from ``threads`` threads
    sharing its pool (4 connections: each one's statements repeat, as in production)."""
    app = create_app({"DATABASE_URL": url, "POOL_SIZE": 4, "POOL_MAX_OVERFLOW": 0})
    try:
        counts: Counter = Counter()
        lock = threading.Lock()

        def reader(i: int) -> None:
            client = app.test_client()
            for _ in range(n // threads):
                status = client.get("/api/products?limit=5").status_code
                with lock:
                    counts[status] += 1

        race(threads, reader)
        return counts
    finally:
        app.extensions[EXTENSION].dispose()


def test_storefront_reads_through_pgbouncer_1_18_all_succeed(fresh_db, pgbouncer, shop):
    shop.product(stock=5)
    assert storefront_reads(pgbouncer.url(fresh_db, "storefront")) == {200: 200}


def test_prepared_statements_forced_through_pgbouncer_1_18_fail(fresh_db, pgbouncer, shop):
    """Why a pooled URL turns them off: PgBouncer < 1.21 gives a client's prepared
    statement to whichever client gets that server connection next."""
    shop.product(stock=5)
    url = with_params(pgbouncer.url(fresh_db, "storefront"), prepare_threshold=0)
    counts = storefront_reads(url)
    if pgbouncer.config.version < pooler.TRACKS_PREPARED:
        assert counts[500] > 0 and counts[200] < 200, counts
    else:
        assert counts == {200: 200}


def test_a_database_with_pooled_connections_is_dropped_after_kill(pg, pgbouncer):
    """The harness ends the pooler's connections (`KILL db`) before dropping a database;
    a client asking for it afterwards meets the server's answer, not a paused pool."""
    database = pg.clone(f"{pg.prefix}kill_{os.getpid()}", pg.template)
    url = pgbouncer.url(database, "storefront")
    with connect(url) as conn:
        conn.execute("SELECT 1")
    password = pooler.console_password(pgbouncer.config.directory)
    with pooler.console(pgbouncer.config, password) as console:
        servers = [s for s in pooler.show(console, "SERVERS") if s["database"] == database.name]
        assert servers, "the pooler kept no server connection"
        pg.drop(database.name)
        after = [s for s in pooler.show(console, "SERVERS") if s["database"] == database.name]
    assert after == []
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        connect(url, connect_timeout=5).execute("SELECT 1")
