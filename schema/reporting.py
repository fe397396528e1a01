"""Running the named SQL reports as the reporting role, and describing them.

``run_as_reporting`` connects as the reporting role (REPORTING_DATABASE_URL, else the
owner's URL with the reporting role's name) in a read-only transaction with a statement
timeout. Errors a user can meet are MergepointError, one line.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence

import psycopg

from schema import db, embedded, passwords, replica
from schema.errors import MergepointError, one_line
from schema.reports import Report, Result, run
from schema.urls import url_params, validate_url

DEFAULT_TIMEOUT = "30s"
ENV_REPORTS_DIR = "MERGEPOINT_REPORTS_DIR"
_TIMEOUT = re.compile(r"^(?P<amount>\d{1,9})\s*(?P<unit>ms|s|min|h)?$")


def parse_timeout(value: str) -> str:
    """A statement_timeout value from '30s', '500ms', '2min', '1h' or seconds ('45'); 0: none."""
    match = _TIMEOUT.match(value.strip())
    if not match:
        raise MergepointError(
            f"invalid --timeout {value!r}: use a duration such as 30s, 500ms, 2min or 0 for none"
        )
    return f"{match['amount']}{match['unit'] or 's'}"


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MergepointError(
                f"invalid --param {pair!r}: write it as key=value, e.g. --param limit=5"
            )
        if key in params:
            raise MergepointError(f"parameter {key} given twice")
        params[key] = value
    return params


def reporting_url(environ: dict[str, str] | None = None) -> str:
    """REPORTING_DATABASE_URL; else the embedded server's replica when it runs
    (`mergepoint db replica start`); else the primary, as the reporting role."""
    env = dict(os.environ) if environ is None else environ
    if url := env.get(db.role_url_var("reporting")):
        return validate_url(url)
    directory = embedded.data_dir(env)
    stored = passwords.load(directory)
    owner = db.owner_url(env)
    user = db.role_prefix(env) + "reporting"
    if replica.running(directory) and url_params(owner).get("host") == str(directory / "pgdata"):
        return replica.role_url(directory, user, url_params(owner)["dbname"], stored.get(user))
    return db.role_urls(owner, db.role_prefix(env), stored)["reporting"]


def run_as_reporting(report: Report, url: str, params: dict[str, object], timeout: str) -> Result:
    """Run ``report`` through psycopg in a read-only transaction bounded by ``timeout``."""
    with db.connect(url, hint=db.connection_hint("reporting")) as conn:
        conn.read_only = True
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('statement_timeout', %s, true)", [timeout])
                return run(report, conn, params)
        except psycopg.errors.QueryCanceled:
            raise MergepointError(
                f"report {report.name} timed out after {timeout} (statement timeout);"
                " narrow its parameters or allow longer, e.g. --timeout 2min"
            ) from None
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise MergepointError(
                f"report {report.name} tried to write ({_message(exc)}): reports are read-only"
            ) from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise MergepointError(
                f"report {report.name}: the reporting role may not do this: {_message(exc)}"
            ) from None
        except psycopg.errors.UndefinedTable as exc:
            raise MergepointError(
                f"report {report.name} failed: {_message(exc)}"
                " (is the database migrated? run: mergepoint migrate)"
            ) from None
        except psycopg.Error as exc:
            raise MergepointError(f"report {report.name} failed: {_message(exc)}") from None


def _message(exc: psycopg.Error) -> str:
    return exc.diag.message_primary or one_line(exc)




def describe(found: Report) -> str:
    """What ``mergepoint report show`` prints: the question, parameters, examples and SQL."""
    out = io.StringIO()
    out.write(f"{found.name}: {found.title}\n\n{found.description}\n\n")
    if found.params:
        out.write("Parameters:\n")
        width = max(len(p.name) for p in found.params)
        for p in found.params:
            default = "required" if p.default is None else f"default {p.default or '(empty)'}"
            out.write(f"  {p.name:<{width}}  {p.spec}, {default}. {p.help}\n")
    else:
        out.write("Parameters: none\n")
    if found.examples:
        out.write("\nExample:\n" + "".join(f"  {example}\n" for example in found.examples))
    out.write(f"\nSQL ({found.path}):\n\n{found.sql}")
    return out.getvalue()
