"""Alembic, driven from Python: the one place that knows where alembic/ is and how to lock it.

Used by alembic/env.py (so plain ``alembic upgrade head`` behaves like ``mergepoint migrate``)
and by the CLI and tests, which pass the URL in rather than setting globals.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command
from schema.db import OWNER_OPTIONS, owner_url
from schema.errors import MergepointError
from schema.paths import ALEMBIC_INI
from schema.tables import ALEMBIC_SCHEMAS, SHOP, metadata
from schema.urls import to_sqlalchemy

ENV_LOCK_TIMEOUT = "MERGEPOINT_LOCK_TIMEOUT"
ENV_ALEMBIC_DIR = "MERGEPOINT_ALEMBIC_DIR"
DEFAULT_LOCK_TIMEOUT = "2s"
ENV_STATEMENT_TIMEOUT = "MERGEPOINT_STATEMENT_TIMEOUT"
DEFAULT_STATEMENT_TIMEOUT = "10min"
# Session-level advisory lock that serializes migrate runs on one database.
MIGRATE_LOCK_KEY = 0x6D70_6D69  # "mpmi"
_TIMEOUT_RE = re.compile(r"^\d+\s*(ms|s|min|h)?$")


def make_config(
    url: str | None = None,
    *,
    lock_timeout: str | None = None,
    stdout: TextIO | None = None,
    quiet: bool = True,
) -> Config:
    if not ALEMBIC_INI.exists():
        raise MergepointError(
            f"{ALEMBIC_INI} not found: mergepoint runs from a checkout (pip install -e .)"
        )
    buffer = stdout or io.StringIO()
    config = Config(str(ALEMBIC_INI), stdout=buffer, output_buffer=buffer)
    config.attributes["url"] = url
    config.attributes["lock_timeout"] = lock_timeout
    config.attributes["quiet"] = quiet
    if location := os.environ.get(ENV_ALEMBIC_DIR):
        # Vet a proposed revision from another directory before it lands in alembic/.
        config.set_main_option("script_location", location)
    return config


def owner_engine(url: str) -> sa.Engine:
    """An engine for the owner's sessions (search_path pinned: see schema.db)."""
    return sa.create_engine(
        to_sqlalchemy(url), poolclass=sa.NullPool, connect_args={"options": OWNER_OPTIONS}
    )


def sqlalchemy_url(config: Config) -> str:
    url = config.attributes.get("url") or owner_url()
    return to_sqlalchemy(url)


def statement_timeout() -> str:
    """How long one migration statement may run (MERGEPOINT_STATEMENT_TIMEOUT, default 10min):
    long enough to rebuild an index on millions of rows, short of holding locks forever."""
    value = os.environ.get(ENV_STATEMENT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT).strip()
    if not _TIMEOUT_RE.match(value):
        raise MergepointError(
            f"invalid {ENV_STATEMENT_TIMEOUT} {value!r}: use a duration such as 10min or 30s"
        )
    return value


def lock_timeout(config: Config | None = None) -> str:
    value = (config.attributes.get("lock_timeout") if config else None) or os.environ.get(
        ENV_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT
    )
    if not _TIMEOUT_RE.match(value.strip()):
        raise MergepointError(
            f"invalid lock timeout {value!r}: use a PostgreSQL duration such as 2s, 500ms or 1min"
        )
    return value.strip()


@contextmanager
def migration_lock(connection: sa.Connection, timeout: str) -> Iterator[None]:
    """Hold the migrate lock for the duration; DDL afterwards waits at most ``timeout``.

    The wait for the advisory lock itself has no timeout, so a second migrate run simply
    queues behind the first and then finds nothing left to do.
    """
    connection.execute(sa.text("SELECT set_config('lock_timeout', '0', false)"))
    connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_LOCK_KEY})
    try:
        # Alembic creates its version table (in shop) before the first revision runs.
        connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SHOP}"))
        connection.execute(
            sa.text("SELECT set_config('lock_timeout', :timeout, false)"), {"timeout": timeout}
        )
        connection.execute(
            sa.text("SELECT set_config('statement_timeout', :timeout, false)"),
            {"timeout": statement_timeout()},
        )
        connection.commit()
        yield
        connection.commit()
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_LOCK_KEY})
        connection.commit()


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(make_config())


def head() -> str:
    heads = script().get_heads()
    if len(heads) != 1:
        raise MergepointError(f"the shared schema has {len(heads)} heads: {heads}")
    return heads[0]


def resolve_revision(revision: str) -> str:
    """Raise a readable error for a revision that does not exist."""
    if revision in ("head", "base", "heads") or revision.startswith(("+", "-")):
        return revision
    try:
        found = script().get_revision(revision)
    except Exception as exc:  # alembic raises several CommandError subclasses
        raise MergepointError(f"unknown revision {revision!r}: {exc}") from exc
    if found is None and revision != "base":
        raise MergepointError(f"unknown revision {revision!r}; see: mergepoint history")
    return revision


def resolve_target(revision: str) -> str | None:
    """The revision id ``revision`` names (``head`` -> the head's id)."""
    if revision.startswith(("+", "-")):
        raise MergepointError(
            f"relative revision {revision!r}: name a revision or head (see: mergepoint history)"
        )
    resolve_revision(revision)
    if revision in ("head", "heads"):
        return head()
    if revision == "base":
        return None
    found = script().get_revision(revision)
    return found.revision if found is not None else None


def upgrade(url: str, revision: str = "head", *, timeout: str | None = None) -> None:
    timeout = lock_timeout_or_default(timeout)
    with _lock_not_granted_explained(timeout):
        command.upgrade(make_config(url, lock_timeout=timeout), resolve_revision(revision))


def downgrade(url: str, revision: str, *, timeout: str | None = None) -> None:
    timeout = lock_timeout_or_default(timeout)
    with _lock_not_granted_explained(timeout):
        command.downgrade(make_config(url, lock_timeout=timeout), resolve_revision(revision))


@contextmanager
def _lock_not_granted_explained(timeout: str) -> Iterator[None]:
    """DDL that waited its whole lock_timeout: say so, and what to do (all was rolled back)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise MergepointError(
            f"a table the migration changes stayed locked by others for {timeout}"
            " (lock timeout), so nothing was applied; run it again when they are done,"
            " or wait longer with --lock-timeout / MERGEPOINT_LOCK_TIMEOUT"
        ) from exc


def offline_sql(
    url: str | None,
    revision: str = "head",
    *,
    start: str | None = None,
    timeout: str | None = None,
) -> str:
    """The SQL ``upgrade`` would run, for review (no database needed beyond the dialect).

    It sets the same lock_timeout as the online path, and a statement_timeout, first.
    """
    out = io.StringIO()
    config = make_config(
        url or "postgresql+psycopg://offline/offline",
        stdout=out,
        lock_timeout=lock_timeout_or_default(timeout),
    )
    target = f"{start}:{revision}" if start else revision
    command.upgrade(config, target, sql=True)
    return out.getvalue()


def lock_timeout_or_default(value: str | None) -> str:
    return lock_timeout(make_config(lock_timeout=value)) if value else lock_timeout()


def current(url: str) -> str | None:
    engine = owner_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table_schema": SHOP})
            return context.get_current_revision()
    finally:
        engine.dispose()


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down_revision, message) from base to head."""
    revisions = list(script().walk_revisions())
    revisions.reverse()
    return [
        (rev.revision, rev.down_revision if isinstance(rev.down_revision, str) else None, rev.doc)
        for rev in revisions
    ]


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic sees only the namespaces this package owns and describes in its MetaData
    (never storefront, backoffice; nor tasks, procrastinate's, which `mergepoint check`
    compares with a fresh install of the pinned version: schema.taskqueue)."""
    if type_ == "schema":
        return name in ALEMBIC_SCHEMAS
    return True


# One set of context options for alembic/env.py and for drift(): `alembic check` and
# `mergepoint check` compare exactly the same things.
CONTEXT_OPTIONS: dict[str, Any] = {
    "target_metadata": metadata,
    "include_schemas": True,
    "include_name": include_name,
    "version_table_schema": SHOP,
    "compare_server_default": False,
}


def drift(url: str) -> list[str]:
    """Differences between the MetaData and the live database, one readable line each."""
    engine = owner_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=CONTEXT_OPTIONS)
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    return [describe_diff(d) for d in diffs]


def describe_diff(diff: Any) -> str:
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(describe_diff(d) for d in diff)
    kind = diff[0]
    for item in diff[1:]:
        name = getattr(item, "name", None)
        table = getattr(item, "table", None)
        if name is not None:
            where = f"{table.schema}.{table.name}." if table is not None else ""
            return f"{kind.replace('_', ' ')}: {where}{name}"
    return " ".join(str(x) for x in diff)
