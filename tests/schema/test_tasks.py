"""The task queue's namespace: procrastinate's pinned schema, our additions, and the check."""

from __future__ import annotations

import importlib.metadata

import pytest

from schema import deploy, roles, taskqueue
from schema.rules import TASKS_FUNCTIONS
from schema.tasks import FUNCTION_SEARCH_PATH, PROCRASTINATE_VERSION, SCHEMA_SQL


def test_the_pinned_version_is_installed_and_its_schema_is_the_one_alembic_ran():
    installed = importlib.metadata.version("procrastinate")
    assert installed.rsplit(".", 1)[0] == PROCRASTINATE_VERSION.rsplit(".", 1)[0]
    assert SCHEMA_SQL.read_text("utf-8") == taskqueue.procrastinate_schema_sql()


def test_a_fresh_install_creates_exactly_the_declared_functions(fresh_db):
    lines = taskqueue.expected(fresh_db.owner_url)
    created = {
        line.removeprefix("function ").split(" returns ")[0]
        for line in lines
        if line.startswith("function ")
    }
    assert created == TASKS_FUNCTIONS


def test_every_function_in_tasks_has_the_fixed_search_path(owner):
    rows = owner.execute(
        "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p"
        " WHERE p.pronamespace = 'tasks'::regnamespace"
    ).fetchall()
    assert {name for name, _ in rows} == TASKS_FUNCTIONS
    assert {tuple(config) for _name, config in rows} == {(f"search_path={FUNCTION_SEARCH_PATH}",)}


def test_the_app_roles_find_tasks_through_their_own_search_path(fresh_db):
    for role in ("storefront", "backoffice"):
        with fresh_db.connect(role) as conn:
            path = conn.execute("SHOW search_path").fetchone()
            assert path is not None and "tasks" in path[0].split(", ")
            assert conn.execute("SELECT to_regclass('procrastinate_jobs')::text").fetchone() == (
                "procrastinate_jobs",
            )


def test_check_is_clean_at_head_and_names_what_drifted(fresh_db, owner):
    prefix = fresh_db.prefix
    assert taskqueue.drift(fresh_db.owner_url, prefix) == []
    owner.execute("ALTER FUNCTION tasks.procrastinate_fetch_job_v2(varchar[], bigint) RESET ALL")
    owner.execute("DROP POLICY own_workers ON tasks.procrastinate_workers")
    owner.execute("CREATE INDEX extra ON tasks.procrastinate_jobs (task_name)")
    owner.execute(f"GRANT TRUNCATE ON tasks.procrastinate_jobs TO {prefix}storefront")
    drift = deploy.check(fresh_db.owner_url, prefix).drift
    text = "\n".join(drift)
    assert "missing" in text and "policy procrastinate_workers.own_workers" in text
    assert "procrastinate_fetch_job_v2" in text and "config -" in text
    assert "unexpected" in text and "CREATE INDEX extra ON tasks.procrastinate_jobs" in text
    assert f"undeclared privilege: {prefix}storefront TRUNCATE on tasks.procrastinate_jobs" in text
    # Reconciliation takes the grant back; the rest is the migration's to restore.
    roles.reconcile(fresh_db.owner_url, prefix)
    assert not any("TRUNCATE" in line for line in taskqueue.drift(fresh_db.owner_url, prefix))


def test_an_upgraded_procrastinate_without_its_migration_is_drift(fresh_db, owner):
    """What a procrastinate release whose migration was not taken looks like: an object of
    a fresh install is missing from the live namespace."""
    owner.execute("DROP INDEX tasks.procrastinate_jobs_priority_idx_v1")
    drift = taskqueue.drift(fresh_db.owner_url, fresh_db.prefix)
    assert drift == [
        "tasks: missing (a fresh install of procrastinate "
        f"{importlib.metadata.version('procrastinate')} with our additions has it): index "
        "CREATE INDEX procrastinate_jobs_priority_idx_v1 ON tasks.procrastinate_jobs USING btree"
        " (priority DESC, id) WHERE (status = 'todo'::tasks.procrastinate_job_status)"
    ]


@pytest.mark.parametrize("revision", ["0006"])
def test_before_the_queue_revision_there_is_nothing_to_compare(fresh_db, revision):
    from schema import migrations

    migrations.downgrade(fresh_db.owner_url, revision)
    roles.reconcile(fresh_db.owner_url, fresh_db.prefix)
    assert taskqueue.drift(fresh_db.owner_url, fresh_db.prefix) == []
