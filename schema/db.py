"""Database URLs and connections for the owner and the application roles.

``MERGEPOINT_DATABASE_URL`` names the owner's database; without it, the embedded server
(schema.embedded) is started or attached to. The app roles' URLs are the owner's URL
with another user name: the applications only ever read their own variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from schema.errors import MergepointError

ENV_URL = "MERGEPOINT_DATABASE_URL"
ENV_PREFIX = "MERGEPOINT_ROLE_PREFIX"
APP_ROLES = ("storefront", "backoffice", "reporting")
ROLE_URL_VARS = {
    "storefront": "STOREFRONT_DATABASE_URL",
    "backoffice": "BACKOFFICE_DATABASE_URL",
    "reporting": "REPORTING_DATABASE_URL",
}


def role_prefix(environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(ENV_PREFIX, "")


def validate_url(url: str) -> str:
    """Return ``url`` if psycopg can parse it as a PostgreSQL URL, else raise one readable line."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise MergepointError(
            f"malformed database URL {redact(url)!r}: expected postgresql://user:password@host/db"
        )
    try:
        conninfo_to_dict(to_libpq(url))
    except psycopg.ProgrammingError as exc:
        raise MergepointError(f"malformed database URL {redact(url)!r}: {one_line(exc)}") from exc
    return url


def to_libpq(url: str) -> str:
    """A SQLAlchemy-style ``postgresql+psycopg://`` URL as libpq understands it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def to_sqlalchemy(url: str) -> str:
    scheme, _, rest = to_libpq(url).partition("://")
    return f"postgresql+psycopg://{rest}"


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def with_user(url: str, user: str, dbname: str | None = None) -> str:
    """The same server as ``url``, as another role (and optionally another database)."""
    params = conninfo_to_dict(to_libpq(url))
    params["user"] = user
    params.pop("password", None)
    if dbname is not None:
        params["dbname"] = dbname
    return conninfo_to_url(params)


def with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(to_libpq(url))
    params["dbname"] = dbname
    return conninfo_to_url(params)


def conninfo_to_url(params: Mapping[str, object]) -> str:
    """Render libpq parameters as a postgresql:// URL (host may be a socket directory)."""
    from urllib.parse import quote, urlencode

    p = {k: str(v) for k, v in params.items() if v is not None}
    user = quote(p.pop("user", ""), safe="")
    password = p.pop("password", None)
    dbname = quote(p.pop("dbname", ""), safe="")
    host = p.pop("host", "")
    port = p.pop("port", "")
    auth = user + (f":{quote(password, safe='')}" if password else "")
    netloc = f"{auth}@" if auth else ""
    query: dict[str, str] = {}
    if host.startswith("/"):
        query["host"] = host
        if port:
            query["port"] = port
    else:
        netloc += host + (f":{port}" if port else "")
    query.update(p)
    suffix = f"?{urlencode(query)}" if query else ""
    return f"postgresql://{netloc}/{dbname}{suffix}"


def url_params(url: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(to_libpq(url)).items()}


def owner_url(environ: dict[str, str] | None = None, *, start: bool = True) -> str:
    """The owner's URL: MERGEPOINT_DATABASE_URL, or the embedded server (started if needed)."""
    env = dict(os.environ) if environ is None else environ
    if url := env.get(ENV_URL):
        return validate_url(url)
    from schema import embedded

    return embedded.ensure_running(embedded.data_dir(env), start=start).owner_url


def role_urls(owner: str, prefix: str) -> dict[str, str]:
    """URL per app role (same server and database as the owner's URL)."""
    return {role: with_user(owner, prefix + role) for role in APP_ROLES}


@contextmanager
def connect(
    url: str, *, autocommit: bool = False, **kwargs: object
) -> Iterator[psycopg.Connection]:
    """A psycopg connection; connection failures become one readable line."""
    try:
        conn = psycopg.connect(to_libpq(url), autocommit=autocommit, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise MergepointError(f"cannot connect to {redact(url)}: {one_line(exc)}") from exc
    try:
        yield conn
    finally:
        conn.close()


def drop_database(url: str, name: str, prefix: str) -> None:
    """Drop database ``name`` (as ``url``'s role, its owner), ending every session in it.

    The owner may not signal other roles' backends, but it may SET ROLE to each app role
    (it is their member with SET), and a role may end its own sessions: each is ended and
    waited for. A plain DROP then also stops an autovacuum worker by itself, where
    ``WITH (FORCE)`` would try to signal it and be refused.
    """
    from psycopg import sql

    end_sessions = (
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE datname = %s AND usename = current_user AND pid <> pg_backend_pid()"
    )
    with connect(url, autocommit=True) as conn:
        conn.execute(end_sessions, [name])
        for role in APP_ROLES:
            try:
                conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(prefix + role)))
            except psycopg.Error:
                continue  # no such role, or not the owner's: nothing of it to end
            try:
                conn.execute(end_sessions, [name])
            finally:
                conn.execute("RESET ROLE")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
