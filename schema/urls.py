"""PostgreSQL URLs: parse, validate, redact, and rewrite for another role or database.

Pure functions of strings: no connection, no server.

Two query parameters are the project's own, not libpq's, and both apps understand them
(docs/deployment.md): ``pooler=transaction`` says the URL leads to a transaction pooler
(PgBouncer), so nothing may rely on the session and psycopg prepares no statements;
``prepare_threshold=N`` turns psycopg's automatic prepared statements back on behind a
pooler that tracks them (PgBouncer 1.22+). libpq refuses parameters it does not know, so
they are taken off before a URL reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from schema.errors import MergepointError, one_line

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
POOLER = "pooler"
TRANSACTION = "transaction"  # the one pooling mode the apps support
PREPARE_THRESHOLD = "prepare_threshold"
APP_PARAMS = (POOLER, PREPARE_THRESHOLD)


def split_app_params(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without the project's own query parameters, and those parameters."""
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    kept, ours = [], {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in APP_PARAMS:
            ours[key] = value
        else:
            kept.append((key, value))
    if not ours:
        return url, {}
    return parts._replace(query=urlencode(kept, quote_via=quote)).geturl(), ours


def join_app_params(url: str, params: Mapping[str, str]) -> str:
    """``url`` with the project's own query parameters ``params`` added."""
    if not params:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + sorted(params.items())
    return parts._replace(query=urlencode(query, quote_via=quote)).geturl()


def is_pooled(url: str) -> bool:
    """Whether ``url`` leads to a transaction pooler (``pooler=transaction``)."""
    return split_app_params(url)[1].get(POOLER) == TRANSACTION


def prepare_threshold(url: str) -> int | None:
    """psycopg's ``prepare_threshold`` for ``url``: off (None) behind a pooler unless the
    URL turns it on, psycopg's default (5) otherwise."""
    ours = split_app_params(url)[1]
    if PREPARE_THRESHOLD in ours:
        value = ours[PREPARE_THRESHOLD].strip().lower()
        if value in ("", "none", "off"):
            return None
        if not value.isdigit():
            raise MergepointError(
                f"prepare_threshold must be a whole number or none, not {value!r}"
            )
        return int(value)
    return None if ours.get(POOLER) == TRANSACTION else 5


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
    pooler = split_app_params(url)[1].get(POOLER)
    if pooler is not None and pooler != TRANSACTION:
        raise MergepointError(
            f"malformed database URL {redact(url)!r}: pooler={pooler} is not known;"
            f" the one pooling mode is pooler={TRANSACTION}"
        )
    prepare_threshold(url)
    return url


def to_libpq(url: str) -> str:
    """A SQLAlchemy-style ``postgresql+psycopg://`` URL as libpq understands it (without
    the project's own parameters, which libpq would refuse)."""
    return split_app_params(url.replace("postgresql+psycopg://", "postgresql://", 1))[0]


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
    return join_app_params(conninfo_to_url(params), split_app_params(url)[1])


def with_dbname(url: str, dbname: str) -> str:
    return with_params(url, dbname=dbname)


def with_params(url: str, **changes: object) -> str:
    """``url`` with some libpq parameters set (None removes one)."""
    params = conninfo_to_dict(to_libpq(url))
    ours = split_app_params(url)[1]
    for key, value in changes.items():
        target: dict[str, Any] = ours if key in APP_PARAMS else params
        if value is None:
            target.pop(key, None)
        else:
            target[key] = str(value)
    return join_app_params(conninfo_to_url(params), ours)


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
    suffix = f"?{urlencode(query, quote_via=quote)}" if query else ""
    return f"postgresql://{netloc}/{dbname}{suffix}"
