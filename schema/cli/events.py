"""``mergepoint events status | prune | replay``: operating the outbox's consumers."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click

from schema import events
from schema.cli.base import owner
from schema.errors import MergepointError


@click.group("events")
def events_group() -> None:
    """The outbox: how far behind each consumer is, retention, replay.

    \b
    Examples:
      mergepoint events status
      mergepoint events status --max-age 5m      # exit 1 if a consumer is further behind
      mergepoint events prune --older-than 30d
      mergepoint events replay backoffice-feed --since 2026-12-01T00:00:00Z
    """


def _age(age: timedelta | None) -> str:
    if age is None:
        return "-"
    seconds = age.total_seconds()
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


@events_group.command("status")
@click.option(
    "--max-age",
    metavar="DURATION",
    help="Exit 1 when a consumer's oldest unacknowledged event is older than this, for "
    "monitoring. Example: --max-age 5m",
)
def status(max_age: str | None) -> None:
    """Per consumer: its cursor, events behind, the age of the oldest it has not handled;
    and the transactions that hold delivery back (any transaction holding an xid, on the
    whole server, delays every consumer until it ends).

    Example: mergepoint events status
    """
    limit = events.parse_duration(max_age, "--max-age") if max_age else None
    consumers, holders = events.status(owner())
    late = []
    for c in consumers:
        click.echo(
            f"{c.consumer} ({c.role}): cursor {c.cursor}, {c.behind} behind,"
            f" oldest {_age(c.oldest_age)}, topics {', '.join(c.topics)}"
        )
        if limit is not None and c.oldest_age is not None and c.oldest_age > limit:
            late.append(c.consumer)
    if not consumers:
        click.echo("no subscriptions (the apps declare them; mergepoint migrate creates them)")
    if holders:
        click.echo("oldest transactions holding an xid (delivery waits for them):")
        for h in holders:
            who = f"pid {h.pid}" if h.pid is not None else "prepared transaction"
            click.echo(f"  {who}, role {h.role}, database {h.database}, {_age(h.age)}, {h.state}")
    else:
        click.echo("horizon: no transaction holds delivery back")
    if late:
        click.echo(f"behind more than {max_age}: {', '.join(late)}", err=True)
        sys.exit(1)


@events_group.command("prune")
@click.option(
    "--older-than",
    required=True,
    metavar="DURATION",
    help="Delete events older than this that every consumer has passed. "
    "Example: --older-than 30d",
)
def prune(older_than: str) -> None:
    """Delete old events every consumer has handled (the outbox is kept otherwise).

    Example: mergepoint events prune --older-than 30d
    """
    deleted = events.prune(owner(), events.parse_duration(older_than, "--older-than"))
    click.echo(f"pruned {deleted} event(s) older than {older_than}")


@events_group.command("replay")
@click.argument("consumer")
@click.option(
    "--from-id",
    type=click.IntRange(1),
    help="Replay from this event id on. Example: --from-id 1200",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]),
    help="Replay the events created at or after this time. Example: --since 2026-12-01",
)
def replay(consumer: str, from_id: int | None, since: datetime | None) -> None:
    """Move CONSUMER's cursor back, so it handles the events again from a point on.

    A consumer's database effects are idempotent by event id, so a replay redoes only
    what was lost (its external effects, such as mail, happen again).

    Example: mergepoint events replay storefront-notifications --from-id 1200
    """
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)
    if (from_id is None) == (since is None):
        raise MergepointError("give --from-id or --since (one of them)")
    cursor = events.replay(owner(), consumer, from_id=from_id, since=since)
    click.echo(f"{consumer}: cursor moved back to {cursor}")
