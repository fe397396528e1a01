"""``mergepoint``: migrate, inspect and run the shared database from the command line.

Every command works against MERGEPOINT_DATABASE_URL, or without it against the embedded
server in .mergepoint/ (started on first use and left running). Errors a user can meet
print one line and exit non-zero.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click
import psycopg
import sqlalchemy.exc
from alembic.util.exc import CommandError
from rich.console import Console

from schema import consumers, db, embedded, migrations, roles
from schema.db import one_line
from schema.errors import MergepointError
from schema.report_cli import report
from schema.seed import seed_command

err_console = Console(stderr=True, highlight=False)


class Group(click.Group):
    """Turns the errors a user can meet into one readable line and exit code 1.

    Usage errors (an unknown option, a bad choice) are one line too, with click's exit 2.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            err_console.print(f"[bold red]error:[/] {exc.format_message()}{where}", soft_wrap=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            err_console.print(f"[bold red]error:[/] {exc.format_message()}", soft_wrap=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            err_console.print("[bold red]error:[/] aborted", soft_wrap=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MergepointError as exc:
            fail(str(exc))
        except psycopg.errors.InsufficientPrivilege as exc:
            fail(f"permission denied: {one_line(exc)}")
        except psycopg.Error as exc:
            fail(f"database error: {one_line(exc)}")
        except sqlalchemy.exc.DBAPIError as exc:
            fail(f"database error: {one_line(exc.orig or exc)}")
        except CommandError as exc:
            fail(f"alembic: {one_line(exc)}")


def fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.exit(1)


def owner() -> str:
    return db.owner_url()


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


LOCK_TIMEOUT = click.option(
    "--lock-timeout",
    metavar="DURATION",
    help="How long DDL may wait for a table lock before failing cleanly "
    "(default 2s or MERGEPOINT_LOCK_TIMEOUT). Example: --lock-timeout 500ms",
)


@main.command()
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
        click.echo(migrations.offline_sql(None, migrations.resolve_revision(revision)), nl=False)
        return
    for line in migrate_and_reconcile(owner(), revision, force, lock_timeout, db.role_prefix()):
        click.echo(line)


def migrate_and_reconcile(
    url: str, revision: str, force: bool, lock_timeout: str | None, prefix: str
) -> list[str]:
    """Vet pending revisions against the consumers, upgrade, reconcile roles; say what changed."""
    before = migrations.current(url)
    target = migrations.resolve_target(revision)
    if before != target and not force:
        descriptions, failures = consumers.describe_all()
        breaks = failures + consumers.vet_migration(url, revision, prefix, descriptions)
        if breaks:
            click.echo(f"refusing to migrate to {target}; it would break:", err=True)
            for b in breaks:
                click.echo(f"  - {b}", err=True)
            more = f" (and {len(breaks) - 1} more)" if len(breaks) > 1 else ""
            raise MergepointError(
                f"migration to {target} would break {breaks[0]}{more};"
                " fix the app or the migration, or use --force"
            )
    migrations.upgrade(url, revision, timeout=lock_timeout)
    after = migrations.current(url)
    report = roles.reconcile(url, prefix)
    return [
        f"schema: {before or 'empty'} -> {after}"
        if before != after
        else f"schema: at {after} (nothing to do)",
        f"roles: {len(report.changes)} change(s)" if report.changes else "roles: up to date",
    ]


@main.command()
def current() -> None:
    """Print the revision the database is at.

    Example: mergepoint current
    """
    click.echo(migrations.current(owner()) or "empty (no revision applied)")


@main.command()
def history() -> None:
    """List the shared schema's revisions, oldest first.

    Example: mergepoint history
    """
    for revision, down, message in migrations.history():
        click.echo(f"{down or 'base'} -> {revision}  {message}")


@main.command()
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
        f"Downgrade {db.redact(url)} from {migrations.current(url)} to {revision}?", default=False
    ):
        raise MergepointError("downgrade cancelled")
    migrations.downgrade(url, revision, timeout=lock_timeout)
    roles.reconcile(url, db.role_prefix())
    click.echo(f"schema: now at {migrations.current(url) or 'base'}")


@main.command()
def check() -> None:
    """Check the live database against the schema and against every consumer; exit 1 on any.

    Schema drift: the database differs from schema/tables.py. Consumer breaks: an app's
    declared reads, writes, constraints or rules no longer hold (a missing column, a
    changed type or nullability, a revoked privilege of its role).

    Example: mergepoint check
    """
    url = owner()
    drift = migrations.drift(url)
    descriptions, failures = consumers.describe_all()
    breaks = failures + consumers.check(url, db.role_prefix(), descriptions)
    if drift:
        click.echo("schema drift (the live database differs from schema/tables.py):")
        for line in drift:
            click.echo(f"  - {line}")
    else:
        click.echo(f"schema: no drift at {migrations.current(url)}")
    if breaks:
        click.echo("consumer breaks (an app relies on something the database no longer gives):")
        for b in breaks:
            click.echo(f"  - {b}")
    else:
        names = ", ".join(d["name"] for d in descriptions) or "none installed"
        click.echo(f"consumers: all satisfied ({names})")
    if drift or breaks:
        sys.exit(1)


@main.group("db")
def db_group() -> None:
    """The database server: embedded start/stop/status, URLs, roles.

    \b
    Examples:
      mergepoint db start
      mergepoint db url --role storefront
      mergepoint db roles
    """


def _embedded_only(action: str) -> None:
    if db.ENV_URL in __import__("os").environ:
        raise MergepointError(
            f"MERGEPOINT_DATABASE_URL is set: there is no embedded server to {action}"
        )


@db_group.command("start")
def db_start() -> None:
    """Start the embedded server (or attach to it) and create the owner role.

    Example: mergepoint db start
    """
    _embedded_only("start")
    server = embedded.ensure_running(embedded.data_dir())
    click.echo(("started" if server.started else "already running") + f": {server.owner_url}")


@db_group.command("stop")
def db_stop() -> None:
    """Stop the embedded server.

    Example: mergepoint db stop
    """
    _embedded_only("stop")
    directory = embedded.data_dir()
    click.echo("stopped" if embedded.stop(directory) else f"not running ({directory})")


@db_group.command("status")
def db_status() -> None:
    """Say whether the database is reachable, and at which revision.

    Example: mergepoint db status
    """
    import os

    if db.ENV_URL not in os.environ:
        directory = embedded.data_dir()
        if embedded.running_url(directory) is None:
            click.echo(f"embedded: not running ({directory})")
            sys.exit(3)
        click.echo(f"embedded: running ({directory})")
    url = owner()
    with db.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    click.echo(f"server: PostgreSQL {version} at {db.redact(url)}")
    click.echo(f"schema: {migrations.current(url) or 'empty'}")


@db_group.command("url")
@click.option(
    "--role",
    type=click.Choice(["owner", *db.APP_ROLES]),
    default="owner",
    show_default=True,
    help="Whose URL to print. Example: mergepoint db url --role reporting",
)
def db_url(role: str) -> None:
    """Print a connection URL.

    Example: psql "$(mergepoint db url)"
    """
    url = owner()
    click.echo(url if role == "owner" else db.role_urls(url, db.role_prefix())[role])


@db_group.command("roles")
def db_roles() -> None:
    """Create and reconcile the app roles, their namespaces and grants (schema/roles.py).

    Idempotent: a second run changes nothing; a privilege removed from the code is revoked.

    Example: mergepoint db roles
    """
    report = roles.reconcile(owner(), db.role_prefix())
    for change in report.changes:
        click.echo(change)
    click.echo(f"roles: {len(report.changes)} change(s)" if report.changes else "roles: up to date")


@main.command("env")
def env_command() -> None:
    """Print `export` lines for the owner's and each app role's URL.

    Example: eval "$(mergepoint env)"
    """
    url = owner()
    prefix = db.role_prefix()
    click.echo(f"export {db.ENV_URL}={shlex.quote(url)}")
    for role, role_url in db.role_urls(url, prefix).items():
        click.echo(f"export {db.ROLE_URL_VARS[role]}={shlex.quote(role_url)}")
    if prefix:
        click.echo(f"export {db.ENV_PREFIX}={shlex.quote(prefix)}")


@main.command()
@click.option(
    "--storefront-port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Port of the storefront API. Example: --storefront-port 9000",
)
@click.option(
    "--backoffice-port",
    type=click.IntRange(1, 65535),
    default=8001,
    show_default=True,
    help="Port of the back office (Django admin). Example: --backoffice-port 9001",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface both apps listen on. Example: --host 0.0.0.0",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="gunicorn worker processes per app. Example: --workers 4",
)
@click.option(
    "--no-seed",
    is_flag=True,
    help="Do not load demo data into an empty shop. Example: mergepoint up --no-seed",
)
def up(storefront_port: int, backoffice_port: int, host: str, workers: int, no_seed: bool) -> None:
    """Run everything: database, migrations, roles, demo data, staff user, both apps.

    The storefront (Flask) and the back office (Django admin) run under gunicorn as two
    processes, each connected as its own role. Staff login comes from
    MERGEPOINT_ADMIN_USER / MERGEPOINT_ADMIN_PASSWORD, or is generated and printed once.
    Ctrl-C stops both apps (and the embedded database, if this run started it).

    \b
    Examples:
      mergepoint up
      mergepoint up --storefront-port 9000 --backoffice-port 9001
    """
    from schema import up as up_module

    if storefront_port == backoffice_port:
        raise MergepointError("--storefront-port and --backoffice-port must differ")
    options = up_module.Options(
        host=host,
        storefront_port=storefront_port,
        backoffice_port=backoffice_port,
        workers=workers,
        seed=not no_seed,
    )
    sys.exit(up_module.up(options, Console(highlight=False)))


main.add_command(seed_command, "seed")
main.add_command(report, "report")

if __name__ == "__main__":
    main()
