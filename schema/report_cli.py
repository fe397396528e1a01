"""``mergepoint report``: list, show and run the named SQL reports.

``run`` connects as the reporting role (REPORTING_DATABASE_URL, else the owner's URL with
the reporting role's name) in a read-only transaction with a statement timeout. Errors a
user can meet are MergepointError, one line; ``mergepoint`` prints it and exits 1.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import psycopg
from rich import box
from rich.table import Table
from rich.text import Text

from schema import db
from schema.errors import MergepointError
from schema.reports import FORMATTERS, Report, Result, bind, find, formatter, load_all, run
from schema.reports.formatters import print_table

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
    env = dict(os.environ) if environ is None else environ
    if url := env.get(db.ROLE_URL_VARS["reporting"]):
        return db.validate_url(url)
    return db.role_urls(db.owner_url(env), db.role_prefix(env))["reporting"]


def run_as_reporting(report: Report, url: str, params: dict[str, object], timeout: str) -> Result:
    """Run ``report`` through psycopg in a read-only transaction bounded by ``timeout``."""
    with db.connect(url) as conn:
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
    return exc.diag.message_primary or db.one_line(exc)


REPORTS_DIR = click.option(
    "--reports-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=ENV_REPORTS_DIR,
    help="A directory of your own *.sql reports, used beside the built-in ones "
    f"(or {ENV_REPORTS_DIR}). Example: --reports-dir ./my-reports",
)


def _dirs(reports_dir: Path | None) -> tuple[Path, ...]:
    return () if reports_dir is None else (reports_dir,)


@click.group(name="report")
def report() -> None:
    """Run the named SQL reports as the read-only reporting role.

    \b
    Examples:
      mergepoint report list
      mergepoint report show top_products
      mergepoint report run sales_by_day --param date_from=today-6 --format csv
      mergepoint report run ledger_audit --format json --output audit.json
    """


@report.command(name="list")
@REPORTS_DIR
def list_reports(reports_dir: Path | None) -> None:
    """List the reports with their titles and parameters.

    Example: mergepoint report list
    """
    table = Table(box=box.SIMPLE_HEAVY)
    for column in ("name", "title", "parameters"):
        table.add_column(column, no_wrap=column == "name")
    for name, found in sorted(load_all(*_dirs(reports_dir)).items()):
        params = ", ".join(f"{p.name}={p.default}" if p.default else p.name for p in found.params)
        table.add_row(Text(name), Text(found.title), Text(params or "-"))
    print_table(table, sys.stdout)


@report.command()
@click.argument("name")
@REPORTS_DIR
def show(name: str, reports_dir: Path | None) -> None:
    """Show report NAME: what it answers, its parameters and its SQL.

    Example: mergepoint report show low_stock
    """
    found = find(name, *_dirs(reports_dir))
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
    click.echo(out.getvalue(), nl=False)


@report.command(name="run")
@click.argument("name")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter value, repeatable; see `report show NAME` for the parameters. "
    "Example: --param limit=5 --param date_from=2026-11-01",
)
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(list(FORMATTERS)),
    default="table",
    show_default=True,
    help="Output format. Example: --format csv",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to FILE instead of standard output (written only if the report succeeds). "
    "Example: --output sales.csv",
)
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    metavar="DURATION",
    help="Cancel the report after this long (30s, 500ms, 2min; 0 for none). "
    "Example: --timeout 2min",
)
@REPORTS_DIR
def run_report(
    name: str,
    params: tuple[str, ...],
    output_format: str,
    output: Path | None,
    timeout: str,
    reports_dir: Path | None,
) -> None:
    """Run report NAME as the reporting role and print its rows.

    Connects with REPORTING_DATABASE_URL, or the owner's URL (MERGEPOINT_DATABASE_URL or the
    embedded server) as the reporting role, in a read-only transaction.

    \b
    Examples:
      mergepoint report run low_stock --param threshold=3
      mergepoint report run top_products -p limit=5 -p date_from=today-6 --format json
      mergepoint report run sales_by_day --format csv --output sales.csv
    """
    found = find(name, *_dirs(reports_dir))
    given = parse_params(params)
    statement_timeout = parse_timeout(timeout)
    values = bind(found, given)  # before connecting: a typo should not wait for a database
    result = run_as_reporting(found, reporting_url(), values, statement_timeout)
    write = formatter(output_format).write
    if output is None:
        write(result, sys.stdout)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as stream:
            write(result, stream)
    except OSError as exc:
        raise MergepointError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"{len(result.rows)} row(s) written to {output}", err=True)
