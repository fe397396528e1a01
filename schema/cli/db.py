"""``mergepoint db …`` and ``mergepoint env``: the server, its URLs, its roles."""

from __future__ import annotations

import os
import shlex
import sys

import click

from schema import db, embedded, migrations, passwords, roles
from schema.cli.base import embedded_only, owner
from schema.registry import ROLE_NAMES
from schema.urls import redact


@click.group("db")
def db_group() -> None:
    """The database server: embedded start/stop/status, URLs, roles.

    \b
    Examples:
      mergepoint db start
      mergepoint db url --role storefront
      mergepoint db roles
    """


@db_group.command("start")
def db_start() -> None:
    """Start the embedded server (or attach to it) and create the owner role.

    Example: mergepoint db start
    """
    embedded_only("start")
    server = embedded.ensure_running(embedded.data_dir())
    click.echo(("started" if server.started else "already running") + f": {server.owner_url}")


@db_group.command("stop")
def db_stop() -> None:
    """Stop the embedded server.

    Example: mergepoint db stop
    """
    embedded_only("stop")
    directory = embedded.data_dir()
    click.echo("stopped" if embedded.stop(directory) else f"not running ({directory})")


@db_group.command("status")
def db_status() -> None:
    """Say whether the database is reachable, and at which revision.

    Example: mergepoint db status
    """
    if db.ENV_URL not in os.environ:
        directory = embedded.data_dir()
        if embedded.running_url(directory) is None:
            click.echo(f"embedded: not running ({directory})")
            sys.exit(3)
        click.echo(f"embedded: running ({directory})")
    url = owner()
    with db.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    click.echo(f"server: PostgreSQL {version} at {redact(url)}")
    click.echo(f"schema: {migrations.current(url) or 'empty'}")


@db_group.command("url")
@click.option(
    "--role",
    type=click.Choice(["owner", *ROLE_NAMES]),
    default="owner",
    show_default=True,
    help="Whose URL to print. Example: mergepoint db url --role reporting",
)
def db_url(role: str) -> None:
    """Print a connection URL.

    Example: psql "$(mergepoint db url)"
    """
    url = owner()
    click.echo(url if role == "owner" else app_role_urls(url)[role])


def app_role_urls(owner_url: str) -> dict[str, str]:
    return db.role_urls(owner_url, db.role_prefix(), passwords.load(embedded.data_dir()))


@db_group.command("password")
@click.argument("role", type=click.Choice(ROLE_NAMES))
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating one. "
    "Example: mergepoint db password reporting --stdin < reporting.pass",
)
def db_password(role: str, from_stdin: bool) -> None:
    """Set ROLE's password (generated: 192 random bits) and print the role's URL.

    The server stores only its SCRAM-SHA-256 verifier, computed here; the password is
    kept (mode 0600) in the data directory, so `mergepoint env`, `db url` and the pooler
    use it. Needed on a server with password authentication; the embedded one trusts
    its own OS user on its private socket.

    \b
    Examples:
      mergepoint db password reporting
      export REPORTING_DATABASE_URL="$(mergepoint db password reporting)"
    """
    url = owner()
    given = sys.stdin.read() if from_stdin else None
    name = db.role_prefix() + role
    passwords.set_password(url, name, embedded.data_dir(), given)
    click.echo(app_role_urls(url)[role])


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


@click.command("env")
def env_command() -> None:
    """Print `export` lines for the owner's and each app role's URL.

    Example: eval "$(mergepoint env)"
    """
    url = owner()
    prefix = db.role_prefix()
    click.echo(f"export {db.ENV_URL}={shlex.quote(url)}")
    for role, role_url in app_role_urls(url).items():
        click.echo(f"export {db.role_url_var(role)}={shlex.quote(role_url)}")
    if prefix:
        click.echo(f"export {db.ENV_PREFIX}={shlex.quote(prefix)}")
