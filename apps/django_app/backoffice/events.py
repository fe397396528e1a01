"""The back office's event consumer: the staff feed, and the daily sales rollup.

It reads two subscriptions through the shared schema's protocol (``events.poll`` and
``events.ack``, SQL functions that check the calling role), one transaction per batch:
take the batch, write its effects, acknowledge.

* ``backoffice-feed`` (``order.placed``, ``stock.low``): the staff feed of new orders and
  low-stock alerts. ``event_id`` is unique, so a redelivered batch adds nothing.
* ``backoffice-sales`` (the order events and ``shop.bulk_loaded``): the daily sales
  rollup the admin index's dashboard reads (sales.py), built when the consumer starts if
  there is none yet.

Run it with ``python apps/django_app/manage.py consume_events``; `mergepoint up` starts it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.db import DatabaseError, connection, transaction

from apps.django_app.backoffice import sales
from apps.django_app.backoffice.contract import SUBSCRIPTIONS
from apps.django_app.backoffice.models import FeedItem

log = logging.getLogger(__name__)

CONSUMER = SUBSCRIPTIONS[0]["name"]
SALES = sales.CONSUMER


def money(cents: int) -> str:
    return f"{cents / 100:,.2f}"


def feed_item(event_id: int, topic: str, payload: Mapping[str, Any] | str) -> FeedItem | None:
    if isinstance(payload, str):  # Django's backend leaves jsonb as text
        payload = json.loads(payload)
    if topic == "order.placed":
        lines = payload["lines"]
        units = sum(int(line["quantity"]) for line in lines)
        return FeedItem(
            event_id=event_id,
            kind=FeedItem.Kind.ORDER_PLACED,
            order_id=payload["order_id"],
            message=f"Order #{payload['order_id']} placed: {units} item(s) in {len(lines)}"
            f" line(s), {money(payload['total_cents'])}",
        )
    if topic == "stock.low":
        return FeedItem(
            event_id=event_id,
            kind=FeedItem.Kind.STOCK_LOW,
            product_id=payload["product_id"],
            message=f"Low stock: {payload['sku']} {payload['name']} has {payload['stock']}"
            f" left (threshold {payload['threshold']})",
        )
    return None


def handle_batch(limit: int = 100) -> int:
    """One batch in one transaction on Django's connection; the number of events taken."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, txid::text, topic, payload FROM events.poll(%s, %s)", [CONSUMER, limit]
        )
        batch: list[tuple[int, str, str, dict[str, Any]]] = cursor.fetchall()
        if not batch:
            return 0
        items = [i for i in (feed_item(e[0], e[2], e[3]) for e in batch) if i is not None]
        FeedItem.objects.bulk_create(items, ignore_conflicts=True)
        last_id, last_txid = batch[-1][0], batch[-1][1]
        cursor.execute("SELECT events.ack(%s, %s::xid8, %s)", [CONSUMER, last_txid, last_id])
    return len(batch)


def handle_sales_batch(limit: int = 1000) -> int:
    """One batch of ``backoffice-sales`` into the rollup, in one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        batch = sales.handle_batch(cursor, limit)
    if batch.rebuilt is not None:
        log.info("sales: the rollup was rebuilt from %s order(s) (a bulk load)", batch.rebuilt)
    return batch.events


def build_sales_rollup() -> None:
    """Build the rollup once if there is none (a new database, or one seeded before)."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        built = sales.ensure_built(cursor)
    if built is not None:
        log.info(
            "sales: built the rollup from %s order(s) in %.1f s",
            built,
            time.perf_counter() - started,
        )


HANDLERS: dict[str, Callable[[int], int]] = {
    CONSUMER: handle_batch,
    SALES: handle_sales_batch,
}
SETUP: dict[str, Callable[[], None]] = {SALES: build_sales_rollup}


def consume(
    stop: threading.Event,
    *,
    limit: int = 100,
    interval: float = 0.015,
    on_ready: Callable[[], None] | None = None,
    subscriptions: Sequence[str] = tuple(HANDLERS),
) -> int:
    """Poll ``subscriptions`` until ``stop`` is set (a short poll is the wake-up: see the
    storefront's). Each has its own transactions and its own retries: a failing one
    holds up neither the other nor the process."""
    handled = 0
    ready = False
    retry_at = dict.fromkeys(subscriptions, 0.0)
    pending_setup = [name for name in subscriptions if name in SETUP]
    polled: set[str] = set()
    while not stop.is_set():
        busy = False
        for name in subscriptions:
            if time.monotonic() < retry_at[name]:
                continue
            try:
                if name in pending_setup:
                    SETUP[name]()
                    pending_setup.remove(name)
                count = HANDLERS[name](limit)
            except DatabaseError as exc:
                log.warning(
                    "events: %s: database error (%s); retrying",
                    name,
                    " ".join(str(exc).split())[:200],
                )
                connection.close()
                retry_at[name] = time.monotonic() + 1.0
                continue
            except Exception:  # a bug or a bad event: keep the process, retry the batch later
                log.exception(
                    "events: %s: the batch failed; retrying in 5 s (nothing was acknowledged)",
                    name,
                )
                retry_at[name] = time.monotonic() + 5.0
                continue
            polled.add(name)
            handled += count
            busy = busy or count >= limit
        if not ready and polled == set(subscriptions):
            ready = True
            log.info("events: consuming %s", ", ".join(subscriptions))
            if on_ready is not None:
                on_ready()
        if not busy:
            stop.wait(interval)
    return handled


def unseen(limit: int = 20) -> Iterable[FeedItem]:
    return FeedItem.objects.filter(seen_at__isnull=True).order_by("-id")[:limit]
