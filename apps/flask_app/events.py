"""The storefront's event consumer: tell customers what others did to their orders.

It reads its subscription through the shared schema's protocol (``events.poll`` and
``events.ack``, SQL functions that check the calling role): one transaction per batch
takes the batch, writes the notifications and acknowledges it, so the database effects
happen exactly once (a redelivered event finds its notification already there: the
``event_id`` is unique). The external effect — here a log line, in production a mail —
runs for the notices the batch wrote, before the commit: a crash in between redelivers the
batch and repeats at most that batch's effects; none is ever lost.

Run it with ``flask --app apps.flask_app events consume``; `mergepoint up` starts it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from apps.flask_app.tables import SUBSCRIPTIONS, notifications

log = logging.getLogger(__name__)

CONSUMER = SUBSCRIPTIONS[0]["name"]
KINDS = {"order.paid": "paid", "order.shipped": "shipped", "order.cancelled": "cancelled"}

_poll = sa.text(
    "SELECT id, txid::text AS txid, topic, aggregate_id, payload, actor"
    " FROM events.poll(:consumer, :limit)"
)
_ack = sa.text("SELECT events.ack(:consumer, CAST(:txid AS xid8), :id)")


@dataclass(frozen=True)
class Notice:
    """A customer told something: the external effect of one handled event."""

    event_id: int
    customer_id: int
    order_id: int
    kind: str
    actor: str  # who did it (the event's actor)


def notices(batch: Sequence[Any]) -> list[Notice]:
    """What to tell whom: every change to an order the customer did not make themselves."""
    out = []
    for event in batch:
        kind = KINDS.get(event.topic)
        if kind is None:
            continue
        customer = int(event.payload["customer_id"])
        if event.actor == f"storefront:customer:{customer}":
            continue  # their own action: they know
        out.append(Notice(event.id, customer, int(event.payload["order_id"]), kind, event.actor))
    return out


def handle_batch(
    conn: sa.Connection, limit: int = 100, effect: Callable[[Notice], None] | None = None
) -> tuple[int, list[Notice]]:
    """One batch in the caller's transaction: (events handled, notices written now).

    ``effect`` runs for each notice written, before the caller commits."""
    batch = conn.execute(_poll, {"consumer": CONSUMER, "limit": limit}).all()
    if not batch:
        return 0, []
    wanted = notices(batch)
    written: list[Notice] = []
    if wanted:
        rows = conn.execute(
            insert(notifications)
            .values(
                [
                    {
                        "customer_id": n.customer_id,
                        "order_id": n.order_id,
                        "kind": n.kind,
                        "event_id": n.event_id,
                        "actor": n.actor,
                    }
                    for n in wanted
                ]
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(notifications.c.event_id)
        ).scalars()
        new = set(rows)
        written = [n for n in wanted if n.event_id in new]
        for notice in written:
            if effect is not None:
                effect(notice)
    last = batch[-1]
    conn.execute(_ack, {"consumer": CONSUMER, "txid": last.txid, "id": last.id})
    return len(batch), written


def tell(notice: Notice) -> None:
    """The external effect (a mail in production): here one log line per notice."""
    log.info(
        "notify customer %s: order %s %s (event %s)",
        notice.customer_id,
        notice.order_id,
        notice.kind,
        notice.event_id,
    )


def consume(
    engine: sa.Engine,
    stop: threading.Event,
    *,
    limit: int = 100,
    interval: float = 0.015,
    effect: Callable[[Notice], None] = tell,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Poll until ``stop`` is set; returns the number of events handled.

    A short poll is the wake-up (no LISTEN: it costs every commit a global lock, and a
    notification sent while nobody listens is lost anyway): an idle consumer runs one
    cheap query per ``interval``; a busy one takes batch after batch without sleeping.
    """
    handled = 0
    ready = False
    while not stop.is_set():
        try:
            with engine.begin() as conn:
                count, _written = handle_batch(conn, limit, effect)
        except sa.exc.OperationalError as exc:  # the database went away: retry shortly
            log.warning("events: database unavailable (%s); retrying", _first_line(exc))
            stop.wait(1.0)
            continue
        except Exception:  # a bug or a bad event: keep the process, retry the batch later
            log.exception("events: the batch failed; retrying in 5 s (nothing was acknowledged)")
            stop.wait(5.0)
            continue
        if not ready:
            ready = True
            log.info("events: consuming %s", CONSUMER)
            if on_ready is not None:
                on_ready()
        handled += count
        if count < limit:
            stop.wait(interval)
    return handled


def _first_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]


def run(url: str, *, limit: int, interval: float) -> int:
    """Consume on ``url`` with an engine of its own (consumers connect directly, never
    through a pooler) until SIGINT or SIGTERM; the events handled. A bad URL raises
    ConfigError. Both ways of starting the consumer run this."""
    import signal

    from apps.flask_app.db import make_engine

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    engine = make_engine(url, pool_size=1, application_name="storefront-events")
    try:
        return consume(engine, stop, limit=limit, interval=interval)
    finally:
        engine.dispose()


def main() -> None:
    """``python -m apps.flask_app.events``: the same consumer without Flask's CLI (it starts
    in half the time: no app, no routes), for supervisors that restart it often."""
    import argparse
    import os

    from apps.flask_app.errors import ConfigError

    parser = argparse.ArgumentParser(prog="python -m apps.flask_app.events")
    parser.add_argument("--batch", type=int, default=100, choices=range(1, 10_001), metavar="N")
    parser.add_argument("--interval", type=float, default=0.015, metavar="SECONDS")
    args = parser.parse_args()
    url = os.environ.get("STOREFRONT_DATABASE_URL")
    if not url:
        raise SystemExit("error: STOREFRONT_DATABASE_URL is not set")
    try:
        handled = run(url, limit=args.batch, interval=max(0.001, args.interval))
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"events: stopped after {handled} event(s)", flush=True)


if __name__ == "__main__":
    main()
