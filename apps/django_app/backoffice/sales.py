"""The daily sales rollup: orders per day (UTC) and status, kept from the order events.

The admin index charts 30 days of sales and the status funnel. Read from ``shop.orders``
that is a scan of a month of orders (about 300 ms at a million); read from here it is
120 rows at most, whatever the history. Who keeps it, and why it is exact:

* **The back office's own consumer**, subscription ``backoffice-sales`` (``order.placed``,
  ``order.paid``, ``order.shipped``, ``order.cancelled``, ``shop.bulk_loaded``). Checkout
  does no extra work (the outbox is written anyway) and nothing serializes it: one writer,
  the consumer, applies each batch with one upsert, in the transaction that acknowledges
  the batch, so each event counts exactly once.
* **An event moves one order between statuses**: ``order.placed`` adds it to ``placed``
  on its day; ``order.paid`` moves it from ``placed`` to ``paid``; a cancel from wherever
  it was to ``cancelled``. Its day, units and total are read from ``shop.orders`` and
  ``shop.order_lines``, which never change once the order is placed; the moves add up in
  any order.
* **A rebuild counts ``shop.orders`` in one statement and keeps that statement's
  snapshot.** An event whose transaction the snapshot saw is already counted, and is
  skipped; any other is applied. The consumer rebuilds when there is no rollup yet, and
  when ``mergepoint seed`` says it wrote orders without their events (``shop.bulk_loaded``,
  in the seed's own transaction); ``manage.py rebuild_sales`` rebuilds on demand.
* **The last event applied is kept** with the rollup: an event redelivered (a subscription
  replayed by an operator) is skipped, not counted twice.
* A batch locks the state's row, a rebuild the state's table (EXCLUSIVE): a rebuild and a
  batch never interleave. Readers are never blocked. A batch is five round trips: begin,
  poll, lock and check, apply and acknowledge (one statement), commit.

Days and statuses mean what ``schema/reports/sales_by_day.sql`` and
``order_status_funnel.sql`` mean (UTC days): the tests compare them over 180 days.

Every function takes a DB-API cursor (Django's or psycopg's) of the back office's role and
runs in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

CONSUMER = "backoffice-sales"
BULK_LOADED = "shop.bulk_loaded"
ORDER_TOPICS = ("order.placed", "order.paid", "order.shipped", "order.cancelled")
TOPICS = (*ORDER_TOPICS, BULK_LOADED)
# A rebuild scans every order: far longer than a request may take (the role's 30 s).
REBUILD_TIMEOUT = "15min"

# Every order there is, by its day (UTC, as sales_by_day) and status now; and, in the
# same statement (so with the same snapshot), the state: what that snapshot saw.
BUILD = """
WITH built AS (
    INSERT INTO sales_rollup (day, status, orders, units, value_cents)
    SELECT (o.placed_at AT TIME ZONE 'UTC')::date, o.status, count(*),
           coalesce(sum(l.units), 0), coalesce(sum(o.total_cents), 0)
      FROM shop.orders o
      LEFT JOIN (SELECT order_id, sum(quantity) AS units
                   FROM shop.order_lines GROUP BY order_id) l ON l.order_id = o.id
     GROUP BY 1, 2
    RETURNING orders
)
INSERT INTO sales_rollup_state AS s
       (id, snapshot, built_at, built_orders, applied_txid, applied_id, applied_at)
SELECT true, pg_current_snapshot(), now(), coalesce(sum(built.orders), 0), '0', 0, now()
  FROM built
ON CONFLICT (id) DO UPDATE
   SET snapshot = excluded.snapshot, built_at = excluded.built_at,
       built_orders = excluded.built_orders
RETURNING built_orders
"""

# One batch: each order event moves its order out of its previous status (if any) and
# into its new one, on the order's day; events the last rebuild saw, or already applied,
# are left out. In the same statement: the last event applied is kept, and the batch is
# acknowledged (every CTE sees the state as it was before the statement).
APPLY = """
WITH state AS (
    SELECT snapshot, applied_txid, applied_id FROM sales_rollup_state
),
batch AS (
    SELECT e.order_id, e.status, e.previous
      FROM unnest(%(ids)s::bigint[], %(txids)s::text[], %(orders)s::bigint[],
                  %(statuses)s::text[], %(previous)s::text[])
           AS e(id, txid, order_id, status, previous),
           state s
     WHERE e.order_id IS NOT NULL
       AND NOT pg_visible_in_snapshot(e.txid::xid8, s.snapshot)
       AND (e.txid::xid8, e.id) > (s.applied_txid, s.applied_id)
),
moves AS (
    SELECT order_id, status, 1 AS sign FROM batch
    UNION ALL
    SELECT order_id, previous, -1 FROM batch WHERE previous IS NOT NULL
),
orders AS (
    SELECT o.id, (o.placed_at AT TIME ZONE 'UTC')::date AS day, o.total_cents,
           (SELECT coalesce(sum(l.quantity), 0) FROM shop.order_lines l
             WHERE l.order_id = o.id) AS units
      FROM shop.orders o
     WHERE o.id IN (SELECT order_id FROM batch)
),
applied AS (
    INSERT INTO sales_rollup AS r (day, status, orders, units, value_cents)
    SELECT o.day, m.status, sum(m.sign), sum(m.sign * o.units), sum(m.sign * o.total_cents)
      FROM moves m JOIN orders o ON o.id = m.order_id
     GROUP BY o.day, m.status
    ON CONFLICT (day, status) DO UPDATE
       SET orders = r.orders + excluded.orders,
           units = r.units + excluded.units,
           value_cents = r.value_cents + excluded.value_cents
    RETURNING 1
),
advanced AS (
    UPDATE sales_rollup_state
       SET applied_txid = %(last_txid)s::xid8, applied_id = %(last_id)s, applied_at = now()
     WHERE (applied_txid, applied_id) < (%(last_txid)s::xid8, %(last_id)s)
    RETURNING 1
)
SELECT events.ack(%(consumer)s, %(last_txid)s::xid8, %(last_id)s),
       (SELECT count(*) FROM batch)
"""

# The state's row, locked for the batch (a rebuild's EXCLUSIVE table lock waits for it,
# and it for a rebuild), and whether a bulk load in the batch is one the last rebuild did
# not see. No row: never built.
CHECK = """
SELECT (SELECT coalesce(bool_or(NOT pg_visible_in_snapshot(t::xid8, s.snapshot)), false)
          FROM unnest(%s::text[]) t)
  FROM sales_rollup_state s
   FOR UPDATE
"""


@dataclass(frozen=True)
class Event:
    id: int
    txid: str  # xid8, as text
    topic: str
    order_id: int | None
    status: str | None
    previous: str | None


@dataclass(frozen=True)
class Batch:
    events: int  # taken from the subscription (acknowledged)
    applied: int  # order events among them counted now (the others were already counted)
    rebuilt: int | None  # the orders a rebuild counted first, if it rebuilt


def lock(cursor: Any) -> None:
    """Keep batches (which lock the state's row) out while rebuilding; readers are never
    blocked (EXCLUSIVE conflicts with everything but ACCESS SHARE)."""
    cursor.execute("LOCK TABLE sales_rollup_state IN EXCLUSIVE MODE")


def rebuild(cursor: Any) -> int:
    """Count every order again, in one statement; the number of orders counted."""
    lock(cursor)
    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [REBUILD_TIMEOUT])
    cursor.execute("DELETE FROM sales_rollup")
    cursor.execute(BUILD)
    row = cursor.fetchone()
    cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
    return int(row[0]) if row else 0


def is_built(cursor: Any) -> bool:
    cursor.execute("SELECT EXISTS (SELECT 1 FROM sales_rollup_state)")
    return bool(cursor.fetchone()[0])


def ensure_built(cursor: Any) -> int | None:
    """Build the rollup if it was never built; the orders counted, or None."""
    if is_built(cursor):
        return None
    lock(cursor)
    if is_built(cursor):  # built meanwhile
        return None
    return rebuild(cursor)


def poll(cursor: Any, limit: int) -> list[Event]:
    """The next batch, with only what the rollup needs of each payload (an order.placed
    carries every line: no need to ship and parse them)."""
    cursor.execute(
        "SELECT id, txid::text, topic, (payload->>'order_id')::bigint, payload->>'status',"
        " payload->>'previous_status' FROM events.poll(%s, %s)",
        [CONSUMER, limit],
    )
    return [
        Event(event_id, txid, topic, order_id, status, previous)
        if topic in ORDER_TOPICS
        else Event(event_id, txid, topic, None, None, None)
        for event_id, txid, topic, order_id, status, previous in cursor.fetchall()
    ]


def apply(cursor: Any, events: list[Event]) -> int:
    """Apply the batch and acknowledge it (one statement); how many order events counted."""
    last = events[-1]
    cursor.execute(
        APPLY,
        {
            "ids": [e.id for e in events],
            "txids": [e.txid for e in events],
            "orders": [e.order_id for e in events],
            "statuses": [e.status for e in events],
            "previous": [e.previous for e in events],
            "last_txid": last.txid,
            "last_id": last.id,
            "consumer": CONSUMER,
        },
    )
    return int(cursor.fetchone()[1])


def handle_batch(cursor: Any, limit: int = 1000) -> Batch:
    """Take one batch of the subscription, apply it, acknowledge it: one transaction (the
    caller's). Rebuilds first if there is no rollup yet, or the batch has a bulk load the
    last rebuild did not see (every event of the batch is then counted by the rebuild:
    they all ended before the batch was taken)."""
    events = poll(cursor, limit)
    if not events:
        return Batch(0, 0, None)
    cursor.execute(CHECK, [[e.txid for e in events if e.topic == BULK_LOADED]])
    row = cursor.fetchone()
    rebuilt = rebuild(cursor) if row is None or row[0] else None
    return Batch(len(events), apply(cursor, events), rebuilt)


def days(cursor: Any, first: date, last: date) -> dict[tuple[date, str], tuple[int, int, int]]:
    """(day, status) -> (orders, units, value_cents) for the days from ``first`` to ``last``."""
    cursor.execute(
        "SELECT day, status, orders, units, value_cents FROM sales_rollup"
        " WHERE day BETWEEN %s AND %s",
        [first, last],
    )
    return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in cursor.fetchall()}


def day_count(cursor: Any) -> int:
    cursor.execute("SELECT count(DISTINCT day) FROM sales_rollup WHERE orders <> 0")
    return int(cursor.fetchone()[0])
