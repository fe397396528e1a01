"""The back office's event consumer: a staff feed of new orders and low-stock alerts.

It reads its subscription through the shared schema's protocol (``events.poll`` and
``events.ack``, SQL functions that check the calling role), one transaction per batch:
take the batch, write the feed items, acknowledge. ``event_id`` is unique, so a
redelivered batch adds nothing: the feed is written exactly once.

Run it with ``python apps/django_app/manage.py consume_events``; `mergepoint up` starts it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import DatabaseError, connection, transaction

from apps.django_app.backoffice.contract import SUBSCRIPTIONS
from apps.django_app.backoffice.models import FeedItem

log = logging.getLogger(__name__)

CONSUMER = SUBSCRIPTIONS[0]["name"]


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


def consume(
    stop: threading.Event,
    *,
    limit: int = 100,
    interval: float = 0.015,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Poll until ``stop`` is set (a short poll is the wake-up: see the storefront's)."""
    handled = 0
    ready = False
    while not stop.is_set():
        try:
            count = handle_batch(limit)
        except DatabaseError as exc:
            log.warning("events: database error (%s); retrying", " ".join(str(exc).split())[:200])
            connection.close()
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


def unseen(limit: int = 20) -> Iterable[FeedItem]:
    return FeedItem.objects.filter(seen_at__isnull=True).order_by("-id")[:limit]
