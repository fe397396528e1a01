"""``mergepoint report list | show | run``: the named SQL reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from schema.errors import MergepointError
from schema.reporting import (
    DEFAULT_TIMEOUT,
    ENV_REPORTS_DIR,
    describe,
    parse_params,
    parse_timeout,
    reporting_url,
    run_as_reporting,
)
from schema.reports import FORMATTERS, bind, find, formatter, load_all
from schema.reports.formatters import print_table

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
    click.echo(describe(find(name, *_dirs(reports_dir))), nl=False)


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
