"""``mergepoint db …`` and ``mergepoint env``: the server, its URLs, its roles."""

from __future__ import annotations

import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from schema import db, embedded, migrations, passwords, pooler, replica, roles, routes
from schema.cli.base import embedded_only, owner
from schema.errors import MergepointError
from schema.registry import POOLED_ROLES, ROLE_NAMES
from schema.urls import redact, url_params


@click.group("db")
def db_group() -> None:
    """The database server: embedded start/stop/status, URLs, roles.

    Also PgBouncer in front of it (`db pooler`) and a read replica of it (`db replica`).

    \b
    Examples:
      mergepoint db start
      mergepoint db url --role storefront
      mergepoint db roles
      mergepoint db pooler start
      mergepoint db replica start
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

    The web apps' variables lead to the pooler while one runs (`mergepoint db pooler
    start`), REPORTING_DATABASE_URL to the replica while one runs; event consumers and
    queue workers read the *_DIRECT_DATABASE_URL ones, which never go through a pooler.

    Example: eval "$(mergepoint env)"
    """
    for var, url in routes.current().exports():
        click.echo(f"export {var}={shlex.quote(url)}")


# --- the pooler --------------------------------------------------------------------------


@db_group.group("pooler")
def pooler_group() -> None:
    """PgBouncer in front of the server, in transaction mode, for the web apps.

    \b
    Examples:
      mergepoint db pooler start --pool-size 20
      mergepoint db pooler status
      mergepoint db pooler stop
    """


@pooler_group.command("start")
@click.option(
    "--host",
    default=pooler.DEFAULT_HOST,
    show_default=True,
    help="Interface it listens on (0.0.0.0 for app hosts elsewhere). Example: --host 0.0.0.0",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=pooler.DEFAULT_PORT,
    show_default=True,
    help="Port it listens on. Example: --port 6433",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1, 10_000),
    default=pooler.DEFAULT_POOL_SIZE,
    show_default=True,
    help="Server connections per app role, however many clients. Example: --pool-size 10",
)
@click.option(
    "--max-client-conn",
    type=click.IntRange(1, 100_000),
    default=pooler.DEFAULT_MAX_CLIENTS,
    show_default=True,
    help="Client connections it accepts in all. Example: --max-client-conn 5000",
)
def pooler_start(host: str, port: int, pool_size: int, max_client_conn: int) -> None:
    """Start PgBouncer (from PATH) in front of the database, for the web apps.

    Transaction pooling, SCRAM authentication from a generated user list (the app roles'
    passwords, generated when missing), the owner on its admin console only. It runs on
    after this command (`mergepoint db pooler stop`); `mergepoint env` then prints the
    pooled URLs.

    \b
    Examples:
      mergepoint db pooler start
      mergepoint db pooler start --host 0.0.0.0 --port 6432 --pool-size 40
    """
    config = pooled_config(host, port, pool_size, max_client_conn)
    credentials = pooler.app_credentials(owner(), embedded.data_dir(), config.users)
    if not pooler.start(config, credentials):
        running = pooler.load(config.directory) or config
        click.echo(f"pooler: already running on {running.client_host}:{running.port}")
        return
    click.echo(f"pooler: started {describe_pooler(config)}")
    click.echo(f"  config: {config.path(pooler.INI)}")


def pooled_config(host: str, port: int, pool_size: int, max_client_conn: int) -> pooler.Config:
    prefix = db.role_prefix()
    return pooler.config_for(
        owner(),
        embedded.data_dir(),
        [prefix + role for role in POOLED_ROLES],
        host=host,
        port=port,
        pool_size=pool_size,
        max_client_conn=max_client_conn,
    )


def describe_pooler(config: pooler.Config) -> str:
    as_user = f", as OS user {config.os_user}" if config.os_user else ""
    return (
        f"PgBouncer {config.version[0]}.{config.version[1]} on {config.host}:{config.port}"
        f" (transaction pooling, {config.pool_size} server connections per role,"
        f" at most {config.max_client_conn} clients{as_user})"
    )


@pooler_group.command("stop")
def pooler_stop() -> None:
    """Stop the pooler (clients are disconnected; the database keeps running).

    Example: mergepoint db pooler stop
    """
    directory = embedded.data_dir() / pooler.DIRNAME
    click.echo(
        "pooler: stopped" if pooler.stop(directory) else f"pooler: not running ({directory})"
    )


@pooler_group.command("status")
def pooler_status() -> None:
    """Say whether the pooler runs, and its pools: clients and server connections per role.

    Exits 3 when it is not running.

    Example: mergepoint db pooler status
    """
    directory = embedded.data_dir() / pooler.DIRNAME
    status = pooler.status(directory)
    if not status.running or status.config is None:
        click.echo(f"pooler: not running ({directory})")
        sys.exit(3)
    click.echo(f"pooler: running (pid {status.pid}), {describe_pooler(status.config)}")
    header = ("database", "user", "clients active", "waiting", "servers active", "idle")
    rows = [
        (p["database"], p["user"], p["cl_active"], p["cl_waiting"], p["sv_active"], p["sv_idle"])
        for p in status.pools
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


# --- the replica -------------------------------------------------------------------------


@db_group.group("replica")
def replica_group() -> None:
    """A streaming read replica of the embedded server, for reports.

    \b
    Examples:
      mergepoint db replica start
      mergepoint db replica status
      mergepoint db replica stop
    """


@replica_group.command("start")
def replica_start() -> None:
    """Make a hot standby of the embedded server (the first time) and start it.

    pg_basebackup -R -c fast from the server's own binaries, a replication slot, and
    hot_standby_feedback on. `mergepoint env` then points REPORTING_DATABASE_URL at it,
    and `mergepoint report run` uses it.

    Example: mergepoint db replica start
    """
    directory = embedded_primary()
    primary = embedded.ensure_running(directory)
    started = replica.start(directory, primary)
    where = replica.directory(directory)
    click.echo(f"replica: {'started' if started else 'already running'} ({where})")
    click.echo(f"  {describe_lag(directory, primary.owner_url)}")


def embedded_primary() -> Path:
    """The data directory of the embedded server the replica copies; MERGEPOINT_DATABASE_URL
    may be set (`eval "$(mergepoint env)"` sets it) if it names that same server."""
    directory = embedded.data_dir()
    if db.ENV_URL in os.environ:
        host = url_params(os.environ[db.ENV_URL]).get("host", "")
        if Path(host or "/nonexistent").resolve() != (directory / "pgdata").resolve():
            raise MergepointError(
                f"{db.ENV_URL} names another server: `mergepoint db replica` copies the"
                " embedded one; give reports your own replica with REPORTING_DATABASE_URL"
            )
    return directory


def describe_lag(directory: Path, owner_url: str) -> str:
    dbname = url_params(owner_url)["dbname"]
    lag = replica.lag(owner_url, replica.role_url(directory, url_params(owner_url)["user"], dbname))
    ago = ""
    if lag.last_replayed_commit is not None:
        seconds = (datetime.now(UTC) - lag.last_replayed_commit).total_seconds()
        ago = f"; last replayed commit {seconds:.1f}s ago"
    return (
        f"{lag.bytes} bytes behind the primary"
        f" (replayed {lag.replay_lsn}, primary at {lag.primary_lsn}){ago}"
    )


@replica_group.command("stop")
@click.option(
    "--remove",
    is_flag=True,
    help="Also delete its copy and its replication slot (which otherwise keeps WAL on the "
    "primary for it). Example: mergepoint db replica stop --remove",
)
def replica_stop(remove: bool) -> None:
    """Stop the replica (fast shutdown); it catches up when started again.

    Example: mergepoint db replica stop
    """
    directory = embedded_primary()
    stopped = replica.stop(directory)
    click.echo("replica: stopped" if stopped else f"replica: not running ({directory})")
    if remove:
        superuser = embedded.running_url(directory)
        replica.remove(directory, superuser)
        kept = "" if superuser else " (the primary is not running: its slot stays)"
        click.echo(f"replica: removed its copy and replication slot{kept}")


@replica_group.command("status")
def replica_status() -> None:
    """Say whether the replica runs, and how far behind the primary it is (LSN-based).

    Exits 3 when it is not running.

    Example: mergepoint db replica status
    """
    directory = embedded_primary()
    if not replica.running(directory):
        click.echo(f"replica: not running ({replica.directory(directory)})")
        sys.exit(3)
    click.echo(f"replica: running ({replica.directory(directory)})")
    click.echo(f"  {describe_lag(directory, owner())}")
