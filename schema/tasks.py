"""The task queue's namespace ``tasks``: procrastinate's schema, pinned, and our additions.

procrastinate (a PostgreSQL task queue) ships its schema as SQL. Alembic revision 0007
installs the pinned version's ``schema.sql`` (kept verbatim in alembic/procrastinate/)
into ``tasks``; a later procrastinate version brings migration files, each one an Alembic
revision of its own that runs it through ``procrastinate_revision``. Its SQL names nothing
with a schema, in its functions and in its Python side, so:

* every function in ``tasks`` runs with a fixed ``search_path`` (re-applied after each
  procrastinate migration: ``FIX_FUNCTION_SEARCH_PATHS``);
* the app roles find ``tasks`` through their own role-level ``search_path``
  (schema/roles.py; never a startup option, which a transaction pooler refuses).

Our additions (``ADDITIONS``) make the database the boundary between the two apps' queues
(docs/design.md, "Trust boundary"): the queue is the app (``storefront``, ``backoffice``:
the names in ``shop.app_roles``), and row-level security lets each app role defer, fetch,
finish and sweep only its own queue's jobs, and see and remove only its own workers,
events and periodic defers. A worker row records its app (``app``, set by the database),
because a role that could delete another app's worker rows would detach that app's
running jobs through the foreign key (``ON DELETE SET NULL``) and its sweep would run them
twice. Periodic tasks are named ``<app>.<name>``. ``mergepoint check`` compares the live
``tasks`` with a fresh install of the pinned version plus these additions
(schema/taskqueue.py).
"""

from __future__ import annotations

from typing import Protocol

from schema.paths import ROOT
from schema.rules import TASKS_FUNCTIONS
from schema.tables import TASKS

PROCRASTINATE_VERSION = "3.10.0"  # whose schema.sql alembic 0007 installed
SCHEMA_SQL = ROOT / "alembic" / "procrastinate" / f"{PROCRASTINATE_VERSION}-schema.sql"

# One queue per app, named like the app (shop.app_roles): the policies compare them.
QUEUES = ("storefront", "backoffice")

# pg_catalog first, so nothing in tasks can shadow a built-in; pg_temp last, explicitly.
FUNCTION_SEARCH_PATH = f"pg_catalog, {TASKS}, pg_temp"
# The app roles' own search_path includes this (procrastinate's Python side is unqualified).

FIX_FUNCTION_SEARCH_PATHS = f"""
DO $fix$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = '{TASKS}'::regnamespace ORDER BY 1
    LOOP
        EXECUTE pg_catalog.format(
            'ALTER FUNCTION %s SET search_path = {FUNCTION_SEARCH_PATH}', f);
    END LOOP;
END
$fix$"""

# Every function procrastinate's schema creates: schema.rules.TASKS_FUNCTIONS (declared there
# with every other function the migrations create).
PROCRASTINATE_FUNCTIONS = TASKS_FUNCTIONS

# What a worker and a deferring app call (procrastinate's Python side, 3.10): EXECUTE
# granted to both app roles, nothing else (the trigger functions need no EXECUTE to fire;
# retry_job_v1 is kept by procrastinate for old workers). The policies call
# shop.writer_app() as the querying role, so it is granted too (it names one's own app).
WORKER_CALLS = (
    "tasks.procrastinate_defer_jobs_v1(tasks.procrastinate_job_to_defer_v1[])",
    "tasks.procrastinate_defer_periodic_job_v2(character varying,character varying,"
    "character varying,character varying,integer,character varying,bigint,jsonb)",
    "tasks.procrastinate_fetch_job_v2(character varying[],bigint)",
    "tasks.procrastinate_finish_job_v1(bigint,tasks.procrastinate_job_status,boolean)",
    "tasks.procrastinate_cancel_job_v1(bigint,boolean,boolean)",
    "tasks.procrastinate_retry_job_v2(bigint,timestamp with time zone,integer,"
    "character varying,character varying)",
    "tasks.procrastinate_register_worker_v1()",
    "tasks.procrastinate_unregister_worker_v1(bigint)",
    "tasks.procrastinate_update_heartbeat_v1(bigint)",
    "tasks.procrastinate_prune_stalled_workers_v1(double precision)",
    "shop.writer_app()",
)

JOBS = f"{TASKS}.procrastinate_jobs"
WORKERS = f"{TASKS}.procrastinate_workers"
EVENTS = f"{TASKS}.procrastinate_events"
PERIODIC_DEFERS = f"{TASKS}.procrastinate_periodic_defers"
SEQUENCES = tuple(
    f"{TASKS}.procrastinate_{name}_id_seq" for name in ("jobs", "events", "periodic_defers")
)
# The caller's app, once per statement (an InitPlan, not a call per row).
_APP = "(SELECT shop.writer_app())"

# Our additions at head, as SQL (the truth `mergepoint check` compares the live tasks with,
# applied after a fresh install of the pinned version). Revision 0007 ran the same.
ADDITIONS = (
    # Which app a worker belongs to: set by the database (no role may insert it).
    f"ALTER TABLE {WORKERS} ADD COLUMN app text NOT NULL DEFAULT shop.writer_app()",
    f"ALTER TABLE {JOBS} ENABLE ROW LEVEL SECURITY",
    f"ALTER TABLE {WORKERS} ENABLE ROW LEVEL SECURITY",
    f"ALTER TABLE {EVENTS} ENABLE ROW LEVEL SECURITY",
    f"ALTER TABLE {PERIODIC_DEFERS} ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY own_workers ON {WORKERS} USING (app = {_APP}) WITH CHECK (app = {_APP})",
    # A job is taken by one of one's own workers only (worker rows are under RLS too).
    f"CREATE POLICY own_queue ON {JOBS} USING (queue_name = {_APP})"
    f" WITH CHECK (queue_name = {_APP}"
    f" AND (worker_id IS NULL OR worker_id IN (SELECT w.id FROM {WORKERS} w)))",
    f"CREATE POLICY own_jobs ON {EVENTS} USING (job_id IN (SELECT j.id FROM {JOBS} j))"
    f" WITH CHECK (job_id IN (SELECT j.id FROM {JOBS} j))",
    # (No check of job_id here: the job a periodic defer names is inserted by the same
    # statement, which the policy's subquery would not see.)
    f"CREATE POLICY own_periodic_tasks ON {PERIODIC_DEFERS}"
    f" USING (split_part(task_name, '.', 1) = {_APP})"
    f" WITH CHECK (split_part(task_name, '.', 1) = {_APP})",
    # Deleting a job unlinks every periodic defer naming it, whoever's: another app's defer
    # pointing at one's job (the foreign key does not see policies) must not keep it from
    # being deleted. A trigger function (nobody may call it), acting on the deleted job only.
    f"ALTER FUNCTION {TASKS}.procrastinate_unlink_periodic_defers_v1() SECURITY DEFINER",
)


class _Op(Protocol):
    def execute(self, sqltext: str) -> object: ...


def procrastinate_revision(op: _Op, procrastinate_sql: str) -> None:
    """Run one piece of procrastinate's SQL (its schema, or one of its migrations) in an
    Alembic revision: unqualified names land in ``tasks`` (owned by the owner, so nothing
    else can be found there), then every function of ``tasks`` gets its fixed search_path
    again and the owner's session its pinned one."""
    op.execute(f"SET LOCAL search_path = {TASKS}, pg_catalog, pg_temp")
    # Its tables are procrastinate's, kept as it ships them (bigserial ids included).
    op.execute(f"-- squawk-ignore-file prefer-identity\n{procrastinate_sql}")
    op.execute("SET LOCAL search_path = pg_catalog, pg_temp")
    op.execute(FIX_FUNCTION_SEARCH_PATHS)
