"""Red team: the task queue (alembic 0007) against a compromised app role.

Each app role may defer, fetch, finish and sweep only its own queue's jobs (row-level
security: the queue is named like the app in shop.app_roles), and see or remove only its
own workers, events and periodic defers; procrastinate's functions run as the caller, so
the same rows are out of reach through them.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

DEFER = (
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, 0, NULL, NULL, '{}'::jsonb,"
    " NULL)]::procrastinate_job_to_defer_v1[]))"
)
OTHER = {"storefront": "backoffice", "backoffice": "storefront"}


def defer(conn: psycopg.Connection, queue: str, task: str | None = None) -> int:
    row = conn.execute(DEFER, [queue, task or f"{queue}.work"]).fetchone()
    assert row is not None
    return int(row[0])


def register(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT worker_id FROM procrastinate_register_worker_v1()").fetchone()
    assert row is not None
    return int(row[0])


def fetch(conn: psycopg.Connection, worker: int, queues: list[str] | None) -> int | None:
    row = conn.execute(
        "SELECT id FROM procrastinate_fetch_job_v2(%s, %s)", [queues, worker]
    ).fetchone()
    return None if row is None else row[0]


@pytest.mark.parametrize("attacker", ["storefront", "backoffice"])
def test_an_app_cannot_defer_into_the_other_apps_queue(fresh_db, owner, attacker):
    with fresh_db.connect(attacker, autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            defer(conn, OTHER[attacker])
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name) VALUES (%s, 'x.y')",
                [OTHER[attacker]],
            )
    assert owner.execute("SELECT count(*) FROM tasks.procrastinate_jobs").fetchone() == (0,)


@pytest.mark.parametrize("attacker", ["storefront", "backoffice"])
def test_a_worker_without_queues_takes_only_its_own_apps_jobs(fresh_db, owner, attacker):
    """A worker started without --queues asks for every queue: it gets its own only."""
    victim = OTHER[attacker]
    with fresh_db.connect(victim, autocommit=True) as conn:
        theirs = defer(conn, victim)
    with fresh_db.connect(attacker, autocommit=True) as conn:
        mine = defer(conn, attacker)
        worker = register(conn)
        assert fetch(conn, worker, None) == mine
        assert fetch(conn, worker, None) is None
        assert fetch(conn, worker, [victim]) is None
        # Nor by hand: the rows are invisible, so nothing is updated, finished or deleted.
        assert conn.execute("SELECT id FROM procrastinate_jobs").fetchall() == [(mine,)]
        for statement in (
            "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s",
            "DELETE FROM procrastinate_jobs WHERE id = %s",
        ):
            assert conn.execute(statement, [theirs]).rowcount == 0
        with pytest.raises(errors.RaiseException, match="not found"):
            conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', false)", [theirs])
        assert conn.execute(
            "SELECT procrastinate_cancel_job_v1(%s, true, true)", [theirs]
        ).fetchone() == (None,)
        # Moving one's own job into the other queue is refused too.
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "UPDATE procrastinate_jobs SET queue_name = %s WHERE id = %s", [victim, mine]
            )
    assert owner.execute(
        "SELECT status, worker_id FROM tasks.procrastinate_jobs WHERE id = %s", [theirs]
    ).fetchone() == ("todo", None)


def test_deleting_workers_cannot_detach_the_other_apps_running_job(fresh_db, owner):
    """Reproduced while designing: a role that may delete worker rows nulled the other
    queue's running job's worker_id through the foreign key, so its sweep ran it twice."""
    with fresh_db.connect("backoffice", autocommit=True) as victim:
        job = defer(victim, "backoffice")
        worker = register(victim)
        assert fetch(victim, worker, ["backoffice"]) == job
    with fresh_db.connect("storefront", autocommit=True) as attacker:
        assert attacker.execute("SELECT id FROM procrastinate_workers").fetchall() == []
        assert attacker.execute("DELETE FROM procrastinate_workers").rowcount == 0
        attacker.execute("SELECT procrastinate_unregister_worker_v1(%s)", [worker])
        pruned = attacker.execute(
            "SELECT * FROM procrastinate_prune_stalled_workers_v1(-1000)"  # everyone is stale
        ).fetchall()
        assert pruned == []
        attacker.execute("SELECT procrastinate_update_heartbeat_v1(%s)", [worker])
        # Taking a job for the other app's worker: refused (its workers are invisible).
        own = defer(attacker, "storefront")
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            fetch(attacker, worker, None)
        assert own
    assert owner.execute(
        "SELECT status, worker_id FROM tasks.procrastinate_jobs WHERE id = %s", [job]
    ).fetchone() == ("doing", worker)


def test_a_worker_row_says_whose_it_is_and_no_role_can_say_otherwise(fresh_db, owner):
    with fresh_db.connect("storefront", autocommit=True) as conn:
        register(conn)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("INSERT INTO procrastinate_workers (app) VALUES ('backoffice')")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE procrastinate_workers SET app = 'backoffice'")
    assert owner.execute("SELECT app FROM tasks.procrastinate_workers").fetchall() == [
        ("storefront",)
    ]


def test_events_follow_their_jobs_queue(fresh_db, owner):
    with fresh_db.connect("backoffice", autocommit=True) as victim:
        job = defer(victim, "backoffice")
    with fresh_db.connect("storefront", autocommit=True) as attacker:
        assert attacker.execute("SELECT * FROM procrastinate_events").fetchall() == []
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            attacker.execute(
                "INSERT INTO procrastinate_events (job_id, type) VALUES (%s, 'cancelled')", [job]
            )
        with pytest.raises(errors.InsufficientPrivilege):
            attacker.execute("DELETE FROM procrastinate_events")
    assert owner.execute(
        "SELECT type::text FROM tasks.procrastinate_events WHERE job_id = %s", [job]
    ).fetchall() == [("deferred",)]


def test_periodic_tasks_belong_to_the_app_they_are_named_after(fresh_db, owner):
    """The other app's periodic task cannot be claimed ahead (its unique key is global),
    and a defer pointing at the other app's job does not keep that job from going."""
    periodic = "SELECT procrastinate_defer_periodic_job_v2(%s, NULL, NULL, %s, 0, '', %s, %s)"
    with fresh_db.connect("storefront", autocommit=True) as attacker:
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            attacker.execute(
                periodic, ["backoffice", "backoffice.sweep", 10**10, '{"timestamp": 1}']
            )
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            attacker.execute(
                "INSERT INTO procrastinate_periodic_defers"
                " (task_name, periodic_id, defer_timestamp) VALUES ('backoffice.sweep', 'sweep', 1)"
            )
    with fresh_db.connect("backoffice", autocommit=True) as victim:
        job = defer(victim, "backoffice")
    with fresh_db.connect("storefront", autocommit=True) as attacker:
        attacker.execute(
            "INSERT INTO procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)"
            " VALUES ('storefront.sweep', 'x', 1)"
        )
        attacker.execute("UPDATE procrastinate_periodic_defers SET job_id = %s", [job])
    with fresh_db.connect("backoffice", autocommit=True) as victim:
        assert victim.execute("SELECT * FROM procrastinate_periodic_defers").fetchall() == []
        worker = register(victim)
        assert fetch(victim, worker, ["backoffice"]) == job
        victim.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', true)", [job])
    assert owner.execute("SELECT count(*) FROM tasks.procrastinate_jobs").fetchone() == (0,)
    assert owner.execute("SELECT job_id FROM tasks.procrastinate_periodic_defers").fetchall() == [
        (None,)
    ]


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        # procrastinate's trigger functions and its old retry: nobody may call them.
        ("storefront", "SELECT tasks.procrastinate_unlink_periodic_defers_v1()"),
        ("backoffice", "SELECT tasks.procrastinate_notify_queue_job_inserted_v1()"),
        (
            "storefront",
            "SELECT tasks.procrastinate_retry_job_v1(1, now(), NULL, NULL, NULL)",
        ),
        # The reporting role has no queue at all.
        ("reporting", "SELECT * FROM tasks.procrastinate_jobs"),
        ("reporting", "SELECT tasks.procrastinate_register_worker_v1()"),
        # Nobody changes the queue's schema.
        ("storefront", "ALTER TABLE tasks.procrastinate_jobs DISABLE ROW LEVEL SECURITY"),
        ("backoffice", "DROP POLICY own_queue ON tasks.procrastinate_jobs"),
        (
            "backoffice",
            "CREATE FUNCTION tasks.procrastinate_x() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ),
        ("storefront", "SELECT setval('tasks.procrastinate_jobs_id_seq', 1)"),
    ],
)
def test_roles_cannot_reach_around_the_queues_functions(fresh_db, role, statement):
    with (
        fresh_db.connect(role) as conn,
        pytest.raises(
            (errors.InsufficientPrivilege, errors.FeatureNotSupported, errors.WrongObjectType)
        ),
    ):
        conn.execute(statement)


def test_the_unlink_trigger_function_runs_as_the_owner_only_on_the_deleted_job(owner):
    """It is SECURITY DEFINER (so a defer of another app pointing at a job never blocks its
    deletion), with the fixed search_path, and EXECUTE revoked from everyone."""
    row = owner.execute(
        "SELECT prosecdef, proconfig, ARRAY(SELECT a.grantee::regrole::text"
        "  FROM aclexplode(proacl) a) = ARRAY[current_user::text]"
        " FROM pg_proc WHERE oid = 'tasks.procrastinate_unlink_periodic_defers_v1()'::regprocedure"
    ).fetchone()
    assert row == (True, ["search_path=pg_catalog, tasks, pg_temp"], True)
