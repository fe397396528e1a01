"""``flask --app apps.flask_app db ...``: the storefront's own tables, as the storefront role."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from apps.flask_app import migrate
from apps.flask_app.db import EXTENSION

db = AppGroup(
    "db",
    help="Migrate the storefront's own namespace (storefront), as STOREFRONT_DATABASE_URL.\n\n"
    "Example: flask --app apps.flask_app db upgrade",
)


def _engine() -> sa.Engine:
    return current_app.extensions[EXTENSION]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def _run(action, *args):  # type: ignore[no-untyped-def]
    try:
        return action(_engine(), *args)
    except sa.exc.DBAPIError as exc:
        raise click.ClickException(f"{action.__name__} failed: {_one_line(exc)}") from exc
    finally:
        _engine().dispose()


@db.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the storefront tables to REVISION (default: head)."""
    _run(migrate.upgrade, revision)
    click.echo(f"storefront schema at {_run(migrate.current)}")


@db.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the storefront tables to REVISION (`base` removes them)."""
    _run(migrate.downgrade, revision)
    click.echo(f"storefront schema at {_run(migrate.current) or 'base'}")


@db.command("current")
def current() -> None:
    """Print the storefront tables' revision."""
    click.echo(_run(migrate.current) or "base")


@db.command("check")
def check() -> None:
    """Exit 1 if the storefront tables differ from the code (like `alembic check`)."""
    diffs = _run(migrate.check)
    if diffs:
        for line in diffs:
            click.echo(line, err=True)
        raise click.ClickException(f"{len(diffs)} difference(s) between the code and the database")
    click.echo("storefront schema matches the code")


events = AppGroup(
    "events",
    help="The storefront's event consumer (customer notifications), as STOREFRONT_DATABASE_URL."
    "\n\nExample: flask --app apps.flask_app events consume",
)


@events.command("consume")
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Events per transaction.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.001, 60),
    default=0.015,
    show_default=True,
    help="Seconds between polls when idle.",
)
def consume(batch: int, interval: float) -> None:
    """Turn order events into customer notifications until SIGTERM or Ctrl-C."""
    from apps.flask_app import events as consumer

    handled = consumer.run(current_app.config["DATABASE_URL"], limit=batch, interval=interval)
    click.echo(f"events: stopped after {handled} event(s)")
