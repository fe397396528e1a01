"""Is the database ready for this code? Its own tables (``storefront``) must be migrated.

A storefront started before ``flask --app apps.flask_app db upgrade`` ran would answer
every token lookup with ``relation "storefront.api_tokens" does not exist``. Instead,
until the database is at the code's head revision, every request that needs the database
(and ``/readyz``) is a 503 ``migrations_pending`` naming the command, and the start-up
log says so in one line. "Migrated" is remembered once seen, so a migrated app pays
nothing per request; while not migrated, each request looks again (one small query), so
the app becomes ready by itself once someone runs the command.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import click
import sqlalchemy as sa
from flask import Flask, Response, request

from apps.flask_app import migrate
from apps.flask_app.db import DatabaseError, engine
from apps.flask_app.errors import ApiError, error_response, internal_error
from apps.flask_app.request_id import request_id

log = logging.getLogger(__name__)

EXTENSION = "storefront.readiness"
COMMAND = "flask --app apps.flask_app db upgrade"
# What answers without the database: the process's liveness and the API's description.
NO_DATABASE = frozenset({"health.healthz", "health.openapi", "static"})
# An object the code uses is missing although the version table says migrated.
UNDEFINED_OBJECT = frozenset({"42P01", "42703", "3F000"})  # table, column, schema


class Readiness:
    def __init__(self, head: str | None):
        self.head = head
        self.migrated = False
        self._reported: str | None = "unknown"  # the last state logged, to log each once
        self._lock = threading.Lock()

    def check(self, get_engine: Callable[[], sa.Engine]) -> None:
        """Raise 503 migrations_pending unless the database is at the head revision."""
        if self.migrated:
            return
        current = migrate.current(get_engine())
        if current == self.head:
            self.migrated = True
            self._report(None)
            return
        code, tables = "migrations_pending", "the storefront's own tables"
        if current is None:
            message = f"{tables} are not created yet (migrations pending): run `{COMMAND}`"
        elif migrate.known(current):
            message = (
                f"{tables} are at revision {current}, this code needs {self.head} "
                f"(migrations pending): run `{COMMAND}`"
            )
        else:  # a newer release migrated them; `db upgrade` from this one cannot help
            code = "schema_mismatch"
            message = (
                f"{tables} are at revision {current}, which this release does not know "
                f"(it needs {self.head}): run the release that migrated them"
            )
        self._report(message)
        raise ApiError(
            503, code, message, {"current": current, "head": self.head, "command": COMMAND}
        )

    def forget(self) -> None:
        """Look again on the next request (an object the code uses went missing)."""
        self.migrated = False

    def _report(self, problem: str | None) -> None:
        with self._lock:
            if problem == self._reported:
                return
            self._reported = problem
        if problem is not None:
            log.warning("storefront not ready: %s", problem)


def readiness(app: Flask) -> Readiness:
    return app.extensions[EXTENSION]


def _serving() -> bool:
    """True under a WSGI server or `flask run`; false for `flask db ...` and other commands,
    which load the app too but have no use for the check (`db upgrade` is the fix)."""
    ctx = click.get_current_context(silent=True)
    return ctx is None or ctx.info_name == "run"


def init_app(app: Flask) -> None:
    state = Readiness(migrate.head())
    app.extensions[EXTENSION] = state

    @app.before_request
    def require_migrations() -> None:
        # Routing errors (endpoint None) are answered as they are; so is what needs no database.
        if request.endpoint is not None and request.endpoint not in NO_DATABASE:
            state.check(engine)

    @app.errorhandler(sa.exc.ProgrammingError)
    def schema_mismatch(exc: sa.exc.ProgrammingError) -> Response:
        err = DatabaseError.of(exc)
        if err.sqlstate not in UNDEFINED_OBJECT:
            return internal_error(exc)
        state.forget()
        log.warning(
            "request %s: %s on %s %r: the database is behind the code; run `%s` "
            "(and `mergepoint migrate` for the shared schema)",
            request_id(),
            err.message,
            request.method,
            request.path,
            COMMAND,
        )
        return error_response(
            503,
            "schema_mismatch",
            f"the database lacks a table or column this code uses: run `{COMMAND}` "
            "(and `mergepoint migrate` for the shared schema)",
            {"command": COMMAND},
        )

    if _serving():
        with app.app_context():
            try:
                state.check(engine)
            except ApiError:
                pass  # logged, in one line
            except (sa.exc.OperationalError, sa.exc.TimeoutError) as exc:
                reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
                log.warning(
                    "storefront start-up: the database is not reachable (%s); "
                    "/readyz answers 503 until it is",
                    reason,
                )
            finally:
                # Nothing pooled survives start-up: a server that forks after loading the
                # app (gunicorn --preload) must not share a connection between workers.
                engine().dispose()
