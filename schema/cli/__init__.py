"""``mergepoint``: migrate, inspect and run the shared database from the command line.

A package of thin commands (the shape of pypi/warehouse's ``warehouse/cli/``): this module
is the group; each command family lives in its own module, parses its options and calls
one library function. Every command works against MERGEPOINT_DATABASE_URL, or without it
against the embedded server in .mergepoint/ (started on first use and left running).
Errors a user can meet print one line and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import click

from schema.cli import db, events, migrate, report, seed, up
from schema.cli.base import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mergepoint")
def main() -> None:
    """mergepoint: a Flask storefront and a Django back office sharing one PostgreSQL schema.

    \b
    Examples:
      mergepoint up                   # everything: database, migrations, demo data, both apps
      mergepoint migrate              # upgrade the shared schema and reconcile roles
      mergepoint check                # schema drift and consumer breaks
      mergepoint report run low_stock --param threshold=5

    Without MERGEPOINT_DATABASE_URL the commands use an embedded PostgreSQL in .mergepoint/
    (MERGEPOINT_DATA_DIR), started on first use and left running (`mergepoint db stop`).
    """


for command in (
    migrate.migrate,
    migrate.current,
    migrate.history,
    migrate.downgrade,
    migrate.check,
    db.db_group,
    db.env_command,
    events.events_group,
    up.up,
    seed.seed,
    report.report,
):
    main.add_command(command)

__all__ = ["Group", "main"]
