"""Stairway, drift, the migrate lock and lock_timeout, against real databases."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import psycopg
import pytest

from schema import migrations, roles
from schema.errors import MergepointError
from schema.paths import ROOT
from schema.urls import to_libpq
from tests.concurrency import race_processes


def test_stairway_every_revision_upgrades_downgrades_and_upgrades_again(empty_db):
    revisions = migrations.history()
    for revision, down, _message in revisions:
        migrations.upgrade(empty_db, revision)
        migrations.downgrade(empty_db, down or "base")
        migrations.upgrade(empty_db, revision)
        assert migrations.current(empty_db) == revision
    assert migrations.drift(empty_db) == []
    migrations.downgrade(empty_db, "base")
    with psycopg.connect(to_libpq(empty_db)) as conn:
        left = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'shop' AND c.relkind = 'r'"
        ).fetchall()
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('shop', 'reporting')"
        ).fetchall()
    assert left == [("alembic_version",)]
    assert schemas == [("shop",)]  # the first revision's downgrade leaves shop itself


def test_no_drift_after_migrate_and_drift_after_a_manual_alter(fresh_db):
    assert migrations.drift(fresh_db.owner_url) == []
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("ALTER TABLE shop.products ADD COLUMN colour text")
        conn.execute("DROP INDEX shop.ix_orders_placed_at")
    problems = migrations.drift(fresh_db.owner_url)
    assert "remove column: shop.products.colour" in problems
    assert "add index: shop.orders.ix_orders_placed_at" in problems


def _migrate_counting(barrier, i: int, urls: tuple[str, ...], prefix: str | None) -> tuple:
    """In a process of its own: wait on the barrier, migrate, count revisions applied here."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("alembic.runtime.migration")
    logger.setLevel(logging.INFO)
    logger.addHandler(Collect())
    url = urls[i % len(urls)]
    barrier.wait(60)
    migrations.upgrade(url)
    if prefix is not None:
        roles.reconcile(url, prefix)
    applied = sum("Running upgrade" in m for m in messages)
    return applied, migrations.current(url)


def test_concurrent_migrate_runs_serialize_and_apply_once(empty_db):
    results = race_processes(2, _migrate_counting, (empty_db,), None)
    head = migrations.head()
    assert sorted(results) == [(0, head), (len(migrations.history()), head)]


def test_concurrent_migrate_and_reconcile_on_two_databases_of_one_server(pg, empty_db):
    other = pg.clone(f"{pg.prefix}o{os.urandom(3).hex()}", "template1")
    try:
        results = race_processes(2, _migrate_counting, (empty_db, other.owner_url), pg.prefix)
        head = migrations.head()
        assert results == [(len(migrations.history()), head)] * 2
        for url in (empty_db, other.owner_url):
            assert roles.privileges(url, pg.prefix) == roles.desired_privileges(
                roles.ROLES, pg.prefix
            )
    finally:
        pg.drop(other.name)


def test_ddl_waits_at_most_its_lock_timeout_and_fails_cleanly(fresh_db):
    head = migrations.head()
    with fresh_db.connect() as blocker:
        blocker.execute("LOCK TABLE shop.products IN ACCESS SHARE MODE")
        # Downgrading the rules drops triggers on products: it needs a stronger lock.
        with pytest.raises(Exception, match="lock timeout"):
            migrations.downgrade(fresh_db.owner_url, "0001", timeout="200ms")
        blocker.rollback()
    assert migrations.current(fresh_db.owner_url) == head  # nothing half-applied
    assert migrations.drift(fresh_db.owner_url) == []


def test_an_invalid_lock_timeout_is_refused():
    with pytest.raises(MergepointError, match="invalid lock timeout"):
        migrations.lock_timeout_or_default("soon")


def test_plain_alembic_works_from_the_repo_root(empty_db):
    env = {**os.environ, "MERGEPOINT_DATABASE_URL": empty_db}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    check = subprocess.run(
        [sys.executable, "-m", "alembic", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_offline_sql_is_reviewable():
    text = migrations.offline_sql(None)
    assert "CREATE TABLE shop.customers" in text
    assert "CREATE TRIGGER order_lines_sell" in text
    assert "SECURITY DEFINER" in text
