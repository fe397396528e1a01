"""Demo data for the shop: customers, products, orders in every status, and their ledger.

``seed_shop`` writes everything with COPY in ONE transaction, as the owner, and leaves
every rule of the database true, exactly as if the rows had gone through the triggers:

* each product has one ``restock`` movement (its first, and large enough for all its
  sales) and ``products.stock`` is the sum of its movements, never negative on the way;
* each order line has exactly one ``sale`` movement (delta = -quantity, same order);
* each line of a cancelled order has exactly one ``cancel`` movement, and no other order
  has any; ``orders.total_cents`` is the sum of quantity * unit_price_cents of its lines,
  and a line's unit price is its product's price;
* placed_at is spread over the 180 days before ``now``; updated_at >= placed_at; movement
  ids follow their created_at; every movement's actor is ``seed``.

How it is fast (1 million orders, 5 million rows, in 30-45 s on 2 busy cores): rows
are preformatted as COPY text by a thread while PostgreSQL ingests the previous batch; the
user triggers are disabled for the transaction (the seed writes what they would write);
the foreign keys of the five tables and their secondary indexes are dropped and put back
from their own catalog definitions (``pg_get_constraintdef`` / ``pg_get_indexdef``), so
PostgreSQL checks every reference in one join and builds each index in one sort instead
of row by row. All of it is DDL inside the transaction: on any error everything rolls
back, triggers and constraints included. The five tables are locked for the duration.

Reproducible: the same sizes, ``seed`` and ``now`` give the same rows. ``now`` defaults
to the start of the current UTC day, so one ``--seed`` gives the same data all day.

A shop that already has rows is refused unless ``append=True``: then a self-contained
batch (new customers, new products, orders of those) is added after the existing ids.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from schema.errors import MergepointError, one_line
from schema.seed.bulk import (
    IDENTITY_TABLES,
    LOCK_TIMEOUT,
    TABLES,
    Progress,
    advance_sequences,
    begin_bulk_load,
    copy_chunks,
    copy_sql,
    end_bulk_load,
    lock_shop,
    next_ids,
    shop_is_empty,
    shop_table,
)
from schema.seed.generate import (
    ACTOR,
    OrderBatch,
    Plan,
    Tally,
    customer_chunks,
    make_catalog,
    new_tally,
    order_batches,
    product_rows,
    restock_amounts,
    restock_rows,
)

MAX_CUSTOMERS = 10_000_000
MAX_PRODUCTS = 1_000_000
MAX_ORDERS = 10_000_000
BATCHES_AHEAD = 4  # generated batches waiting for COPY (bounds memory)

__all__ = [
    "IDENTITY_TABLES", "TABLES", "Plan", "SeedReport", "advance_sequences", "begin_bulk_load",
    "copy_sql", "customer_chunks", "end_bulk_load", "make_catalog", "new_tally",
    "order_batches", "product_rows", "restock_amounts", "restock_rows", "seed_shop",
    "start_of_today", "validate_sizes", "announce_bulk_load", "BULK_LOADED",
]

@dataclass(frozen=True)
class SeedReport:
    customers: int
    products: int
    orders: int
    order_lines: int
    stock_movements: int
    statuses: dict[str, int]
    seconds: float

    @property
    def rows(self) -> int:
        return (
            self.customers + self.products + self.orders + self.order_lines + self.stock_movements
        )


def validate_sizes(customers: int, products: int, orders: int) -> None:
    """Refuse sizes that cannot make a consistent shop, in one line."""
    for name, value, most in (
        ("customers", customers, MAX_CUSTOMERS),
        ("products", products, MAX_PRODUCTS),
        ("orders", orders, MAX_ORDERS),
    ):
        if value < 0:
            raise MergepointError(f"--{name} must be 0 or more, not {value}")
        if value > most:
            raise MergepointError(f"--{name} must be at most {most:,}, not {value:,}")
    if orders and not (customers and products):
        raise MergepointError(
            "orders need customers and products: give --customers and --products above 0"
        )


def start_of_today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


def seed_shop(
    conn: psycopg.Connection[Any],
    *,
    customers: int,
    products: int,
    orders: int,
    seed: int = 0,
    append: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
    lock_timeout: str = LOCK_TIMEOUT,
) -> SeedReport:
    """Seed the shop through ``conn`` (the owner's), in one transaction; return the counts.

    ``now`` (aware datetime) anchors every timestamp; default: the start of today, UTC.
    On a connection already inside a transaction the work joins it (as a savepoint) and
    commits with it; otherwise it commits here. Raises MergepointError for a non-empty shop
    without ``append``, bad sizes, or tables locked by someone else.
    """
    validate_sizes(customers, products, orders)
    report = progress or _no_progress
    anchor = now or start_of_today()
    if anchor.tzinfo is None:
        raise MergepointError("now must be a timezone-aware datetime")
    started = time.perf_counter()
    try:
        with conn.transaction(), conn.cursor() as cur:
            # Catalog definitions (pg_get_*def) come out schema-qualified under this path.
            cur.execute("SELECT set_config('search_path', 'pg_catalog, pg_temp', true)")
            cur.execute("SELECT set_config('maintenance_work_mem', '256MB', true)")
            cur.execute("SELECT set_config('work_mem', '64MB', true)")
            cur.execute("SELECT set_config('mergepoint.actor', %s, true)", [ACTOR])
            lock_shop(cur, lock_timeout)
            if not append and not shop_is_empty(cur):
                raise MergepointError(
                    "the shop already has data: seed an empty database,"
                    " or add a batch with --append"
                )
            first = next_ids(cur)
            plan = Plan(
                customers=customers,
                products=products,
                orders=orders,
                seed=seed,
                now=int(anchor.timestamp()),
                first_customer_id=first["customers"],
                first_product_id=first["products"],
                first_order_id=first["orders"],
                first_movement_id=first["stock_movements"],
            )
            load = begin_bulk_load(cur)
            tally = _load(cur, plan, report)
            end_bulk_load(cur, load, report)
            advance_sequences(
                cur,
                {
                    table: first[table] + count - 1
                    for table, count in (
                        ("customers", customers),
                        ("products", products),
                        ("orders", orders),
                        ("stock_movements", tally.movements),
                    )
                    if count
                },
            )
            for table in TABLES:
                cur.execute(sql.SQL("ANALYZE {}").format(shop_table(table)))
            announce_bulk_load(cur, customers=customers, products=products, orders=orders)
    except psycopg.errors.UniqueViolation as exc:
        diag = exc.diag
        raise MergepointError(
            f"seeding would duplicate existing data ({diag.constraint_name or 'unique'}:"
            f" {diag.message_detail or diag.message_primary}): seed an empty database instead"
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MergepointError(
            "seeding needs the owner's connection (MERGEPOINT_DATABASE_URL):"
            f" {exc.diag.message_primary}"
        ) from exc
    except psycopg.Error as exc:
        raise MergepointError(f"seeding failed, nothing was written: {one_line(exc)}") from exc
    return SeedReport(
        customers=customers,
        products=products,
        orders=orders,
        order_lines=tally.order_lines,
        stock_movements=tally.movements,
        statuses=dict(tally.statuses),
        seconds=time.perf_counter() - started,
    )


BULK_LOADED = "shop.bulk_loaded"


def announce_bulk_load(cur: psycopg.Cursor[Any], **counts: int) -> bool:
    """Say, in the load's own transaction, that rows went in without their events (the
    triggers were off): a ``shop.bulk_loaded`` event (alembic 0008), so consumers that
    derive state from order events rebuild it. False where the topic does not exist (a
    database migrated below 0008, or without the events namespace)."""
    cur.execute("SELECT to_regclass('events.topics') IS NOT NULL")
    row = cur.fetchone()
    if not (row and row[0]):
        return False
    cur.execute("SELECT 1 FROM events.topics WHERE name = %s", [BULK_LOADED])
    if cur.fetchone() is None:
        return False
    cur.execute(
        "SELECT events.emit(%s, 0, pg_catalog.jsonb_build_object("
        "'customers', %s::bigint, 'products', %s::bigint, 'orders', %s::bigint))",
        [BULK_LOADED, counts["customers"], counts["products"], counts["orders"]],
    )
    return True


def _load(cur: psycopg.Cursor[Any], plan: Plan, progress: Progress) -> Tally:
    """COPY everything; the tables' order is free because the FKs are checked at the end.

    A thread generates order batches while this one COPYs the previous ones, so Python
    (generating) and PostgreSQL (ingesting) work at the same time; waiting on the socket
    releases the GIL. Restocks and products come last: their amounts follow the sales.
    """
    copy_chunks(cur, "customers", customer_chunks(plan), progress, "customers", plan.customers)
    catalog = make_catalog(plan)
    tally = new_tally(plan)
    done = {"orders": 0, "order lines": 0, "stock movements": 0}
    for batch in _generated_ahead(order_batches(plan, catalog, tally)):
        for table, phase, data, rows in (
            ("orders", "orders", batch.orders, batch.order_count),
            ("order_lines", "order lines", batch.lines, batch.line_count),
            ("stock_movements", "stock movements", batch.movements, batch.movement_count),
        ):
            if rows:
                with cur.copy(copy_sql(table)) as copy:
                    copy.write(data)
                done[phase] += rows
        # Lines and movements have no total until the last batch: show them against orders.
        progress("orders", done["orders"], plan.orders)
    amounts = restock_amounts(plan, tally)
    with cur.copy(copy_sql("stock_movements")) as copy:
        copy.write(restock_rows(plan, catalog, amounts))
    with cur.copy(copy_sql("products")) as copy:
        copy.write(product_rows(plan, catalog, amounts, tally))
    progress("products", plan.products, plan.products)
    return tally


_END = object()


def _generated_ahead(batches: Iterator[OrderBatch]) -> Iterator[OrderBatch]:
    """Run ``batches`` in a thread, at most BATCHES_AHEAD ahead of the consumer."""
    ready: queue.Queue[object] = queue.Queue(maxsize=BATCHES_AHEAD)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
            return
        put(_END)

    worker = threading.Thread(target=produce, name="mergepoint-seed-generator", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, OrderBatch)
            yield item
    finally:
        stop.set()
        worker.join()


