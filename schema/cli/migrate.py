"""``mergepoint migrate | downgrade | current | history | check``: the shared schema."""

from __future__ import annotations

import sys

import click

from schema import db, deploy, migrations
from schema.cli.base import LOCK_TIMEOUT, owner
from schema.deploy import MigrationRefused
from schema.errors import MergepointError
from schema.urls import redact


@click.command()
@click.argument("revision", default="head")
@click.option(
    "--sql",
    "offline",
    is_flag=True,
    help="Print the SQL instead of running it. Example: mergepoint migrate --sql > plan.sql",
)
@click.option(
    "--force",
    is_flag=True,
    help="Apply even if a consumer (an app) would break. Example: mergepoint migrate --force",
)
@LOCK_TIMEOUT
def migrate(revision: str, offline: bool, force: bool, lock_timeout: str | None) -> None:
    """Upgrade the shared schema to REVISION (default: head), then reconcile roles.

    Pending revisions are first applied to a scratch database and every consumer (each
    app's declared reads, writes and constraints) is checked against it: a migration that
    would break an app is refused, naming the app, table and column, unless --force.
    Concurrent runs queue on an advisory lock; DDL waits at most --lock-timeout.

    \b
    Examples:
      mergepoint migrate
      mergepoint migrate 0002
      mergepoint migrate --sql
    """
    if offline:
        sql = migrations.offline_sql(
            None, migrations.resolve_revision(revision), timeout=lock_timeout
        )
        click.echo(sql, nl=False)
        return
    try:
        result = deploy.migrate(
            owner(), revision, force=force, lock_timeout=lock_timeout, prefix=db.role_prefix()
        )
    except MigrationRefused as refused:
        click.echo(f"refusing to migrate to {refused.target}; it would break:", err=True)
        for b in refused.breaks:
            click.echo(f"  - {b}", err=True)
        raise
    for line in result.lines():
        click.echo(line)


@click.command()
def current() -> None:
    """Print the revision the database is at.

    Example: mergepoint current
    """
    click.echo(migrations.current(owner()) or "empty (no revision applied)")


@click.command()
def history() -> None:
    """List the shared schema's revisions, oldest first.

    Example: mergepoint history
    """
    for revision, down, message in migrations.history():
        click.echo(f"{down or 'base'} -> {revision}  {message}")


@click.command()
@click.argument("revision")
@click.option(
    "--yes",
    is_flag=True,
    help="Do not ask for confirmation. Example: mergepoint downgrade 0001 --yes",
)
@LOCK_TIMEOUT
def downgrade(revision: str, yes: bool, lock_timeout: str | None) -> None:
    """Downgrade the shared schema to REVISION (asks first; data in dropped tables is lost).

    \b
    Examples:
      mergepoint downgrade 0001
      mergepoint downgrade base --yes
    """
    migrations.resolve_revision(revision)
    url = owner()
    if not yes and not click.confirm(
        f"Downgrade {redact(url)} from {migrations.current(url)} to {revision}?", default=False
    ):
        raise MergepointError("downgrade cancelled")
    result = deploy.downgrade(url, revision, lock_timeout=lock_timeout, prefix=db.role_prefix())
    click.echo(f"schema: now at {result.after or 'base'}")


@click.command()
def check() -> None:
    """Check the live database against the schema and against every consumer; exit 1 on any.

    Schema drift: the database differs from schema/tables.py, or a role holds a membership
    the code does not declare. Consumer breaks: an app's declared reads, writes,
    constraints or rules no longer hold (a missing column, a changed type or nullability,
    a revoked privilege of its role).

    Example: mergepoint check
    """
    result = deploy.check(owner(), db.role_prefix())
    if result.drift:
        click.echo("schema drift (the live database differs from the code):")
        for line in result.drift:
            click.echo(f"  - {line}")
    else:
        click.echo(f"schema: no drift at {result.revision}")
    if result.breaks:
        click.echo("consumer breaks (an app relies on something the database no longer gives):")
        for b in result.breaks:
            click.echo(f"  - {b}")
    else:
        names = ", ".join(result.consumers) or "none installed"
        click.echo(f"consumers: all satisfied ({names})")
    if not result.ok:
        sys.exit(1)
