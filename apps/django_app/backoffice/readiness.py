"""Is the database ready for the back office? Django's own tables must be migrated.

Started before `python apps/django_app/manage.py migrate` ran, every admin page would be
a 500 (`relation "django_session" does not exist`). Instead, until no migration is
pending, pages answer a 503 naming the command (middleware.RequireMigrationsMiddleware),
`/readyz` says so, and the start-up log says it in one line. "Migrated" is remembered
once seen, so a migrated back office pays nothing per request; while not migrated, each
request looks again, so it becomes ready by itself once someone runs the command.
"""

from __future__ import annotations

import logging
import threading

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)

COMMAND = "python apps/django_app/manage.py migrate"
# An object Django uses is missing although the migrations say applied.
UNDEFINED_OBJECT = frozenset({"42P01", "42703", "3F000"})  # table, column, schema


class _State:
    migrated = False
    reported: str | None = "unknown"  # the last state logged, to log each state once
    lock = threading.Lock()


_state = _State()


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations `migrate` would apply ([] when none), as ``app_label.name``."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check() -> list[str]:
    """The pending migrations, [] once migrated (then remembered: no query any more).

    Raises django.db.OperationalError when the database cannot be reached.
    """
    if _state.migrated:
        return []
    pending = pending_migrations()
    _state.migrated = not pending
    _report(message(pending) if pending else None)
    return pending


def forget() -> None:
    """Look again on the next request (a table Django uses went missing)."""
    _state.migrated = False


def message(pending: list[str]) -> str:
    return (
        f"the back office's own tables (Django's, in `backoffice`) are not migrated: "
        f"{len(pending)} migration(s) pending; run `{COMMAND}`"
    )


def _report(problem: str | None) -> None:
    with _state.lock:
        if problem == _state.reported:
            return
        _state.reported = problem
    if problem is not None:
        log.warning("back office not ready: %s", problem)


def report_at_start() -> None:
    """Check once when the WSGI application loads, so the start-up log says what is wrong."""
    try:
        check()
    except OperationalError as exc:
        reason = " ".join(str(exc).split())
        log.warning(
            "back office start-up: the database is not reachable (%s); /readyz answers 503 "
            "until it is",
            reason,
        )
    finally:
        # Nothing opened at start-up is kept: requests run in other threads (or processes).
        connections.close_all()
