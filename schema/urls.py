"""PostgreSQL URLs: parse, validate, redact, and rewrite for another role or database.

Pure functions of strings: no connection, no server.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from schema.errors import MergepointError, one_line

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def validate_url(url: str) -> str:
    """Return ``url`` if psycopg can parse it as a PostgreSQL URL, else raise one readable line."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
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
    _scheme, _, rest = to_libpq(url).partition("://")
    return f"postgresql+psycopg://{rest}"


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def url_params(url: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(to_libpq(url)).items()}


def with_user(url: str, user: str, dbname: str | None = None, password: str | None = None) -> str:
    """The same server as ``url``, as another role (and optionally another database)."""
    params = conninfo_to_dict(to_libpq(url))
    params["user"] = user
    params.pop("password", None)
    if password is not None:
        params["password"] = password
    if dbname is not None:
        params["dbname"] = dbname
    return conninfo_to_url(params)


def with_dbname(url: str, dbname: str) -> str:
    return with_params(url, dbname=dbname)


def with_params(url: str, **changes: object) -> str:
    """``url`` with some libpq parameters set (None removes one)."""
    params = conninfo_to_dict(to_libpq(url))
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return conninfo_to_url(params)


def conninfo_to_url(params: Mapping[str, object]) -> str:
    """Render libpq parameters as a postgresql:// URL (host may be a socket directory)."""
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
