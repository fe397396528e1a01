"""Connections to the mergepoint database: the owner's, and the application roles' URLs.

``MERGEPOINT_DATABASE_URL`` names the owner's database; without it, the embedded server
(schema.embedded) is started or attached to. The app roles' URLs are the owner's URL
with another user name: the applications only ever read their own variable.

Owner sessions are the most privileged the project opens, so they never resolve a name
through a namespace someone else can write to: ``owner_connect`` pins ``search_path`` to
``pg_catalog, pg_temp`` (docs/design.md, "Trust boundary"), and the SQL issued on them names
every table and function with its schema anyway.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import psycopg
from psycopg import sql

from schema.errors import MergepointError, one_line
from schema.registry import ROLE_NAMES, URL_VARS
from schema.urls import (
    is_pooled,
    prepare_threshold,
    redact,
    to_libpq,
    url_params,
    validate_url,
    with_user,
)

ENV_URL = "MERGEPOINT_DATABASE_URL"
ENV_PREFIX = "MERGEPOINT_ROLE_PREFIX"
# Every owner session: nothing an app role can create is ever found by name.
OWNER_SEARCH_PATH = "pg_catalog, pg_temp"
OWNER_OPTIONS = "-c search_path=pg_catalog,pg_temp"
APPLICATION_NAME = "mergepoint"


def role_prefix(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(ENV_PREFIX, "")


def owner_url(environ: Mapping[str, str] | None = None, *, start: bool = True) -> str:
    """The owner's URL: MERGEPOINT_DATABASE_URL, or the embedded server (started if needed)."""
    env = dict(os.environ) if environ is None else dict(environ)
    if url := env.get(ENV_URL):
        if is_pooled(validate_url(url)):
            # Migrations and role reconciliation hold session advisory locks, which a
            # transaction pooler would hand to whichever client runs next.
            raise MergepointError(
                f"{ENV_URL} leads to a pooler (pooler=transaction): the owner always"
                " connects directly; give the server's own address"
            )
        return url
    from schema import embedded

    return embedded.ensure_running(embedded.data_dir(env), start=start).owner_url


def role_urls(
    owner: str, prefix: str, passwords: Mapping[str, str] | None = None
) -> dict[str, str]:
    """URL per app role (same server and database as the owner's URL), with the role's
    password where ``passwords`` (schema.passwords.load) has one."""
    known = passwords or {}
    return {
        role: with_user(owner, prefix + role, password=known.get(prefix + role))
        for role in ROLE_NAMES
    }


def role_url_var(role: str) -> str:
    return URL_VARS[role]


def connection_hint(role: str) -> str:
    """What to do when an app role cannot connect: which variable, which command."""
    return (
        f"set {URL_VARS[role]} to the {role} role's URL with its password"
        f" (`mergepoint db password {role}` sets one and prints the URL)"
    )


@contextmanager
def connect(
    url: str, *, autocommit: bool = False, hint: str | None = None, **kwargs: object
) -> Iterator[psycopg.Connection]:
    """A psycopg connection; connection failures become one readable line (and ``hint``).

    Its ``application_name`` is ``mergepoint`` unless the URL names one (an operator tells
    a direct connection from a pooled one by it); behind a pooler, nothing is prepared.
    """
    if "application_name" not in url_params(url):
        kwargs.setdefault("application_name", APPLICATION_NAME)
    kwargs.setdefault("prepare_threshold", prepare_threshold(url))
    try:
        conn = psycopg.connect(to_libpq(url), autocommit=autocommit, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        advice = f"; {hint}" if hint else ""
        raise MergepointError(
            f"cannot connect to {redact(url)}: {one_line(exc)}{advice}"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def owner_connect(
    url: str, *, autocommit: bool = False, **kwargs: object
) -> Iterator[psycopg.Connection]:
    """The owner's connection, its ``search_path`` pinned to ``pg_catalog, pg_temp``."""
    with connect(url, autocommit=autocommit, options=OWNER_OPTIONS, **kwargs) as conn:  # type: ignore[arg-type]
        yield conn


def _quoted(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def create_database(
    url: str, name: str, *, template: str | None = None, connect_roles: Iterable[str] = ()
) -> None:
    """Create database ``name`` (as ``url``'s role, its owner) that nobody else may join.

    It is created with connections closed, CONNECT and TEMPORARY revoked from PUBLIC,
    CONNECT granted to ``connect_roles`` only, and then opened: there is no moment at
    which another role could connect. (A database cloned from a template does not keep
    the template's ACL: every clone gets its own revoke here.)
    """
    with owner_connect(url, autocommit=True) as conn:
        create = sql.SQL("CREATE DATABASE {} ").format(_quoted(name))
        if template is not None:
            create += sql.SQL("TEMPLATE {} ").format(_quoted(template))
        conn.execute(create + sql.SQL("ALLOW_CONNECTIONS false"))
        with conn.transaction():  # one commit for the ACL and the opening
            conn.execute(
                sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                    _quoted(name)
                )
            )
            for role in connect_roles:
                conn.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                        _quoted(name), _quoted(role)
                    )
                )
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(_quoted(name))
            )


# Every session in the database whose role the owner has the privileges of (the app roles,
# held WITH INHERIT): the owner's own, and its members'. Catalog names only, qualified.
_END_SESSIONS = """
SELECT pg_catalog.pg_terminate_backend(a.pid, 5000)
  FROM pg_catalog.pg_stat_activity a
 WHERE a.datname OPERATOR(pg_catalog.=) %s
   AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
   AND pg_catalog.pg_has_role(a.usesysid, 'USAGE')
"""


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` (as ``url``'s role, its owner), ending every session in it.

    New connections are refused first; then every session of a role the owner has the
    privileges of (its own, the app roles it holds WITH INHERIT) is ended and waited for,
    without ever running as one of those roles; a plain DROP then also stops an autovacuum
    worker by itself, where ``WITH (FORCE)`` would try to signal it and be refused.
    """
    with owner_connect(url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) %s",
            [name],
        ).fetchone()
        if exists is None:
            return
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(_quoted(name)))
        conn.execute(_END_SESSIONS, [name])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(_quoted(name)))
