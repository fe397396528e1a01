"""The engine and how the database's errors read from here."""

from __future__ import annotations

import re
import select
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, request
from sqlalchemy import event
from sqlalchemy.engine import make_url

from apps.flask_app.errors import ConfigError

_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
EXTENSION = "storefront.engine"
# Our own URL parameters, not libpq's (so they are taken off before psycopg sees them):
# `pooler=transaction` says the URL leads to a transaction pooler (PgBouncer), behind which
# psycopg must not prepare statements (PgBouncer < 1.21 hands them to other clients);
# `prepare_threshold=N` turns them back on behind a pooler that tracks them (1.22+).
POOLER, TRANSACTION, PREPARE_THRESHOLD = "pooler", "transaction", "prepare_threshold"


def engine() -> sa.Engine:
    """The current app's engine (made by create_app)."""
    return current_app.extensions[EXTENSION]


def connection() -> sa.Connection:
    """The request's connection, opened on first use and closed when the request ends.

    Authentication and the view share it, so a request is one pool checkout and its
    token lookup is part of the business action's transaction. GET requests only read,
    each query on its own (autocommit), which saves two round trips per request.
    """
    if "db" not in g:
        conn = engine().connect()
        if request.method in ("GET", "HEAD"):
            # Reads are single statements (or immutable lines): no BEGIN/ROLLBACK needed.
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        g.db = conn
    return g.db


def close_connection(exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()  # rolls back whatever was not committed


def sqlalchemy_url(url: str) -> sa.URL:
    """``postgresql://user@/db?host=/socket/dir`` (libpq style) as a psycopg 3 SQLAlchemy URL."""
    scheme = url.partition("://")[0]
    if "://" not in url or scheme not in _SCHEMES:
        raise ConfigError(
            f"STOREFRONT_DATABASE_URL must be a postgresql:// URL, not {scheme or url!r}"
        )
    try:
        return make_url(url).set(drivername="postgresql+psycopg")
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(f"STOREFRONT_DATABASE_URL is not a valid URL: {exc}") from exc


def pooled(url: str) -> bool:
    """Whether ``url`` leads to a transaction pooler (``?pooler=transaction``)."""
    return _pooler_params(sqlalchemy_url(url))[0]


def _pooler_params(parsed: sa.URL) -> tuple[bool, int | None | str]:
    """(pooled?, psycopg's prepare_threshold: an int, None for off, or "default")."""
    mode = parsed.query.get(POOLER)
    if mode not in (None, TRANSACTION):
        raise ConfigError(
            f"STOREFRONT_DATABASE_URL has pooler={mode!r}: the storefront supports"
            f" pooler={TRANSACTION} (PgBouncer in transaction mode) only"
        )
    raw = parsed.query.get(PREPARE_THRESHOLD)
    if isinstance(raw, tuple) or isinstance(mode, tuple):
        raise ConfigError("STOREFRONT_DATABASE_URL gives pooler or prepare_threshold twice")
    if raw is None:
        return mode is not None, None if mode is not None else "default"
    if raw.strip().lower() in ("none", "off", ""):
        return mode is not None, None
    if not raw.strip().isdigit():
        raise ConfigError(
            f"STOREFRONT_DATABASE_URL has prepare_threshold={raw!r}: a whole number or none"
        )
    return mode is not None, int(raw)


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 10,
    application_name: str = "mergepoint-storefront",
) -> sa.Engine:
    """The storefront's engine. Behind a transaction pooler (``?pooler=transaction``) the
    same code works because it keeps no session state: one transaction per request, actors
    with ``set_config(…, true)``, transaction-level advisory locks only; psycopg's prepared
    statements are off there unless the URL turns them on.

    No pre-ping (a ``SELECT 1`` round trip per checkout): a pooled connection whose server
    end has gone (a backend terminated, the server restarted, the pooler gone) has
    something to read, its FATAL message or end of file, while a live idle one has
    nothing, so a checkout looks at the socket instead (no round trip) and the pool
    replaces a dead connection before any statement is sent on it. A connection that dies
    during a request fails that request (a 503) and SQLAlchemy then replaces every
    connection older than the failure."""
    parsed = sqlalchemy_url(url)
    _, threshold = _pooler_params(parsed)
    parsed = parsed.difference_update_query([POOLER, PREPARE_THRESHOLD])
    connect_args: dict[str, Any] = {}
    if threshold != "default":
        connect_args["prepare_threshold"] = threshold
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 5
    if "application_name" not in parsed.query:
        connect_args["application_name"] = application_name
    engine = sa.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )
    event.listen(engine, "checkout", _discard_if_closed_by_server)
    return engine


def closed_by_server(dbapi_connection: Any) -> bool:
    """Whether an idle connection's server end has spoken (a FATAL message before it
    closed, or end of file): a live idle connection has nothing to read."""
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # closed on our side already
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _discard_if_closed_by_server(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if closed_by_server(dbapi_connection):
        # The pool closes this one and checks out another (a new connection if need be).
        raise sa.exc.DisconnectionError("the server closed this pooled connection")


@dataclass(frozen=True)
class DatabaseError:
    """What a driver error says, in the terms the shared schema's contract uses."""

    sqlstate: str | None
    message: str | None  # a rule's name for the shared schema's trigger errors
    constraint: str | None
    detail: dict[str, str]

    @classmethod
    def of(cls, exc: sa.exc.DBAPIError) -> DatabaseError:
        diag = getattr(exc.orig, "diag", None)
        return cls(
            sqlstate=getattr(exc.orig, "sqlstate", None),
            message=getattr(diag, "message_primary", None),
            constraint=getattr(diag, "constraint_name", None),
            detail=dict(re.findall(r"(\w+)=(\S+)", getattr(diag, "message_detail", None) or "")),
        )

    @property
    def unique_violation(self) -> bool:
        return self.sqlstate == "23505"
