"""tasks: procrastinate 3.10's task queue in its own namespace, one queue per app under RLS

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00

procrastinate's schema, as its 3.10.0 release ships it (``schema.sql``, which is its
migrations up to 03.04.00_50 applied: alembic/procrastinate/3.10.0-schema.sql, verbatim),
installed into ``tasks`` (never ``public``). A later procrastinate version's migrations
come as one revision each, through ``schema.tasks.procrastinate_revision``.

* Its SQL is unqualified: every function in ``tasks`` gets a fixed search_path
  (``pg_catalog, tasks, pg_temp``); the app roles find ``tasks`` through their role's
  own search_path (schema/roles.py). EXECUTE is revoked from PUBLIC here and granted per
  role by reconciliation.
* One queue per app, isolated by the database: row-level security on the jobs table (a
  role defers, fetches, finishes and retries only jobs of the queue named like its app,
  ``shop.app_roles``), and on procrastinate's other tables: a worker row records its app
  (set by the database: no role may insert the column), events follow their job, and
  periodic defers belong to the app their task is named after (``<app>.<name>``). Reproduced
  while designing: a role allowed to delete another app's worker rows detached that app's
  running job through the foreign key (``ON DELETE SET NULL``), and its sweep ran it twice.
"""

from collections.abc import Sequence

from alembic import op
from schema.paths import ROOT
from schema.tasks import procrastinate_revision

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Verbatim from the procrastinate 3.10.0 wheel (procrastinate/sql/schema.sql).
SCHEMA_SQL = ROOT / "alembic" / "procrastinate" / "3.10.0-schema.sql"
APP = "(SELECT shop.writer_app())"

ADDITIONS = (
    # A table created just above, empty: nothing to rewrite.
    "-- squawk-ignore adding-field-with-default\n"
    "ALTER TABLE tasks.procrastinate_workers"
    " ADD COLUMN app text NOT NULL DEFAULT shop.writer_app()",
    "ALTER TABLE tasks.procrastinate_jobs ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE tasks.procrastinate_workers ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE tasks.procrastinate_events ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE tasks.procrastinate_periodic_defers ENABLE ROW LEVEL SECURITY",
    f"CREATE POLICY own_workers ON tasks.procrastinate_workers USING (app = {APP})"
    f" WITH CHECK (app = {APP})",
    f"CREATE POLICY own_queue ON tasks.procrastinate_jobs USING (queue_name = {APP})"
    f" WITH CHECK (queue_name = {APP}"
    " AND (worker_id IS NULL OR worker_id IN (SELECT w.id FROM tasks.procrastinate_workers w)))",
    "CREATE POLICY own_jobs ON tasks.procrastinate_events"
    " USING (job_id IN (SELECT j.id FROM tasks.procrastinate_jobs j))"
    " WITH CHECK (job_id IN (SELECT j.id FROM tasks.procrastinate_jobs j))",
    "CREATE POLICY own_periodic_tasks ON tasks.procrastinate_periodic_defers"
    f" USING (split_part(task_name, '.', 1) = {APP})"
    f" WITH CHECK (split_part(task_name, '.', 1) = {APP})",
    # Deleting a job unlinks every periodic defer naming it, whoever's (a defer of another
    # app pointing at one's job must not keep it from being deleted). A trigger function.
    "ALTER FUNCTION tasks.procrastinate_unlink_periodic_defers_v1() SECURITY DEFINER",
)

REVOKE_FROM_PUBLIC = """
DO $revoke$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'tasks'::regnamespace ORDER BY 1
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$revoke$"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA tasks")
    procrastinate_revision(op, SCHEMA_SQL.read_text(encoding="utf-8"))
    for statement in ADDITIONS:
        op.execute(statement)
    op.execute(REVOKE_FROM_PUBLIC)


def downgrade() -> None:
    op.execute("DROP SCHEMA tasks CASCADE")
