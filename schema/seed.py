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

import heapq
import queue
import random
import re
import threading
import time
import unicodedata
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click
import psycopg
from psycopg import sql

from schema import db
from schema.db import one_line
from schema.errors import MergepointError
from schema.tables import ORDER_STATUSES, SHOP

DAY = 86_400
ORDER_WINDOW_DAYS = 180
ACTOR = "seed"
MAX_CUSTOMERS = 10_000_000
MAX_PRODUCTS = 1_000_000
MAX_ORDERS = 10_000_000
MAX_LINES_PER_ORDER = 4
CHUNK_ROWS = 4096
BATCH_ORDERS = 32_768
BATCHES_AHEAD = 4  # generated batches waiting for COPY (bounds memory)
LOCK_TIMEOUT = "10s"

TABLES = ("customers", "products", "orders", "order_lines", "stock_movements")
IDENTITY_TABLES = ("customers", "products", "orders", "stock_movements")
COLUMNS = {
    "customers": ("id", "email", "name", "created_at"),
    "products": ("id", "sku", "name", "price_cents", "stock", "active", "created_at", "updated_at"),
    "orders": ("id", "customer_id", "status", "total_cents", "placed_at", "updated_at"),
    "order_lines": ("order_id", "product_id", "quantity", "unit_price_cents"),
    "stock_movements": ("id", "product_id", "delta", "reason", "order_id", "actor", "created_at"),
}

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``, called as work gets done; phases, in order: customers,
orders (with their lines and movements), products, indexes, constraints."""

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Barbara", "Edsger", "Frances", "Donald", "Margaret",
    "Dennis", "Radia", "Ken", "Hedy", "Tim", "Katherine", "John", "Mary", "Guido", "Sophie",
    "Bjarne", "Anita", "Niklaus", "Joan", "Yukihiro", "Karen", "Leslie", "Shafi", "José",
    "Zoë", "Chloé", "Søren", "Aoife", "Ngozi", "Priya", "Wei", "Fatima", "Mateo", "Noah",
    "Amara", "Lucía",
)
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Dijkstra", "Allen", "Knuth",
    "Hamilton", "Ritchie", "Perlman", "Thompson", "Lamarr", "Berners-Lee", "Johnson",
    "McCarthy", "Keller", "van Rossum", "Wilson", "Stroustrup", "Borg", "Wirth", "Clarke",
    "Matsumoto", "Spärck Jones", "Lamport", "Goldwasser", "O'Neil", "García", "Müller",
    "Okafor", "Nakamura", "Kowalski", "Haddad", "Singh", "Chen", "Silva", "Dubois",
    "Nielsen", "Murphy",
)
DOMAINS = ("example.com", "example.org", "example.net")
ADJECTIVES = (
    "Classic", "Rustic", "Modern", "Compact", "Deluxe", "Everyday", "Vintage", "Sturdy",
    "Featherlight", "Handmade", "Nordic", "Coastal",
)
MATERIALS = (
    "Oak", "Walnut", "Ceramic", "Linen", "Copper", "Bamboo", "Wool", "Steel", "Glass",
    "Cotton", "Leather", "Slate",
)
NOUNS = (
    ("Mug", "MUG"), ("Teapot", "TEA"), ("Desk Lamp", "LMP"), ("Notebook", "NTB"),
    ("Backpack", "BAG"), ("Cutting Board", "KIT"), ("Throw Blanket", "TXT"),
    ("Candle", "CND"), ("Plant Pot", "PLT"), ("Wall Clock", "CLK"), ("Water Bottle", "BTL"),
    ("Bookend", "BKE"), ("Serving Bowl", "BWL"), ("Coaster Set", "CST"), ("Apron", "APR"),
)

# Status by the order's age: cumulative shares of placed, paid, shipped (cancelled: the rest).
STATUS_BY_AGE = (
    (1 * DAY, (0.55, 0.85, 0.90)),
    (4 * DAY, (0.10, 0.40, 0.90)),
    (None, (0.005, 0.015, 0.91)),
)
# How long after placed_at each status was reached (updated_at), in seconds: (min, max).
STATUS_DELAY = {"placed": (0, 0), "paid": (60, 2 * 3600), "shipped": (4 * 3600, 3 * DAY),
                "cancelled": (300, 2 * DAY)}
# The most recent orders take these statuses, so that every status appears.
LAST_STATUSES = ("cancelled", "shipped", "paid", "placed")


@dataclass(frozen=True)
class Plan:
    """What to generate: sizes, seed, clock, and the first id of each table."""

    customers: int
    products: int
    orders: int
    seed: int = 0
    now: int = 0  # epoch seconds; orders fall in the ORDER_WINDOW_DAYS before it
    first_customer_id: int = 1
    first_product_id: int = 1
    first_order_id: int = 1
    first_movement_id: int = 1


@dataclass
class Tally:
    """What the orders did to each product (index: product id - first product id)."""

    sold: list[int]
    returned: list[int]
    last_moved: list[int]
    order_lines: int = 0
    movements: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER_STATUSES, 0))


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


# --------------------------------------------------------------------------------------------
# Generation: COPY text rows, in chunks. Pure Python, deterministic for a given Plan.
# --------------------------------------------------------------------------------------------


def _timestamps() -> Callable[[int], str]:
    """Epoch seconds -> COPY text for timestamptz, fast (day and time-of-day strings cached)."""
    time_of_day = [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(DAY)]
    days: dict[int, str] = {}

    def text(t: int) -> str:
        day, second = divmod(t, DAY)
        date = days.get(day)
        if date is None:
            date = days[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
        return date + time_of_day[second]

    return text


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_name.lower())


def _rng(plan: Plan, stream: str) -> random.Random:
    # One independent stream per kind of row, so the order of generation never matters.
    return random.Random(f"mergepoint-seed:{plan.seed}:{stream}")


def customer_chunks(plan: Plan) -> Iterator[tuple[str, int]]:
    """(COPY text, rows) for customers; created before the order window, ids in time order."""
    rng = _rng(plan, "customers")
    rnd = rng.random
    ts = _timestamps()
    firsts = [(n, _slug(n)) for n in FIRST_NAMES]
    lasts = [(n, _slug(n)) for n in LAST_NAMES]
    n = plan.customers
    start = plan.now - (ORDER_WINDOW_DAYS + 365) * DAY
    span = 365 * DAY
    out: list[str] = []
    for i in range(n):
        cid = plan.first_customer_id + i
        first, first_slug = firsts[int(rnd() * len(firsts))]
        last, last_slug = lasts[int(rnd() * len(lasts))]
        domain = DOMAINS[int(rnd() * len(DOMAINS))]
        created = ts(start + int(span * (i + rnd()) / n))
        out.append(f"{cid}\t{first_slug}.{last_slug}{cid}@{domain}\t{first} {last}\t{created}\n")
        if len(out) == CHUNK_ROWS:
            yield "".join(out), len(out)
            out = []
    if out:
        yield "".join(out), len(out)


@dataclass(frozen=True)
class Catalog:
    """The products' fixed attributes, known before any order is generated."""

    skus: list[str]
    names: list[str]
    prices: list[int]
    active: list[bool]
    created: list[int]
    popularity: list[float]  # cumulative weights: a few bestsellers, a long tail


def make_catalog(plan: Plan) -> Catalog:
    rng = _rng(plan, "products")
    n = plan.products
    start = plan.now - (ORDER_WINDOW_DAYS + 20) * DAY
    skus, names, prices, active, created = [], [], [], [], []
    for i in range(n):
        pid = plan.first_product_id + i
        noun, prefix = NOUNS[rng.randrange(len(NOUNS))]
        adjective = ADJECTIVES[rng.randrange(len(ADJECTIVES))]
        material = MATERIALS[rng.randrange(len(MATERIALS))]
        skus.append(f"{prefix}-{pid:05d}")
        names.append(f"{adjective} {material} {noun}")
        prices.append(rng.choice((3, 5, 8, 12, 15, 20, 25, 35, 49, 60, 89, 120)) * 100 - 1)
        active.append(rng.random() >= 0.04)
        created.append(start + int(10 * DAY * (i + rng.random()) / n))
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(n)]
    rng.shuffle(weights)
    cumulative, acc = [], 0.0
    for weight in weights:
        acc += weight
        cumulative.append(acc)
    return Catalog(skus, names, prices, active, created, cumulative)


@dataclass(frozen=True)
class OrderBatch:
    """COPY text (UTF-8) of some orders, their lines and the movements due by then."""

    orders: bytes
    lines: bytes
    movements: bytes
    order_count: int
    line_count: int
    movement_count: int


def order_batches(
    plan: Plan, catalog: Catalog, tally: Tally, batch_orders: int = BATCH_ORDERS
) -> Iterator[OrderBatch]:
    """Orders in placed_at order, with their lines and sale/cancel movements, in batches.

    A cancelled order's cancel movements wait in a heap until their time comes, so movement
    ids follow created_at. Movement ids start after the products' restock movements (one
    per product, the first ids, written by ``restock_rows``). Updates ``tally``.
    """
    rng = _rng(plan, "orders")
    rnd = rng.random
    ts = _timestamps()
    n = plan.orders
    now = plan.now
    span = ORDER_WINDOW_DAYS * DAY
    start = now - span
    n_customers = plan.customers
    first_cid, first_pid, first_oid = (
        plan.first_customer_id, plan.first_product_id, plan.first_order_id
    )
    popularity = catalog.popularity
    total_weight = popularity[-1] if popularity else 0.0
    last_index = len(popularity) - 1  # bisect's bound: r * total can round up to total
    prices = catalog.prices
    most_lines = min(MAX_LINES_PER_ORDER, plan.products)
    sold, returned, last_moved = tally.sold, tally.returned, tally.last_moved
    statuses = tally.statuses
    mid = plan.first_movement_id + plan.products - 1  # the last movement id used
    pending_cancels: list[tuple[int, int, list[tuple[int, int]]]] = []
    orders: list[str] = []
    lines: list[str] = []
    movements: list[str] = []

    def cancel_movements(until: int | None) -> None:
        nonlocal mid
        while pending_cancels and (until is None or pending_cancels[0][0] <= until):
            at, oid, items = heapq.heappop(pending_cancels)
            at_text = ts(at)
            for index, quantity in items:
                mid += 1
                returned[index] += quantity
                if at > last_moved[index]:
                    last_moved[index] = at
                movements.append(
                    f"{mid}\t{first_pid + index}\t{quantity}\tcancel\t{oid}\t{ACTOR}\t{at_text}\n"
                )

    def batch() -> OrderBatch:
        done = OrderBatch(
            "".join(orders).encode(),
            "".join(lines).encode(),
            "".join(movements).encode(),
            len(orders),
            len(lines),
            len(movements),
        )
        tally.order_lines += len(lines)
        tally.movements += len(movements)
        orders.clear()
        lines.clear()
        movements.clear()
        return done

    forced_from = n - len(LAST_STATUSES)  # the last orders cover every status
    older, recent, newest = (shares for _limit, shares in STATUS_BY_AGE[::-1])
    recent_from, newest_from = now - STATUS_BY_AGE[1][0], now - STATUS_BY_AGE[0][0]
    for i in range(n):
        oid = first_oid + i
        placed = start + int(span * (i + rnd()) / n)
        if pending_cancels and pending_cancels[0][0] <= placed:
            cancel_movements(placed)
        if i >= forced_from:
            status = LAST_STATUSES[i - forced_from]
        else:
            shares = newest if placed >= newest_from else recent if placed >= recent_from else older
            r = rnd()
            status = (
                "placed" if r < shares[0] else "paid" if r < shares[1]
                else "shipped" if r < shares[2] else "cancelled"
            )
        statuses[status] += 1
        low, high = STATUS_DELAY[status]
        updated = min(now, placed + low + int(rnd() * (high - low))) if high else placed
        r = rnd()
        k = 1 if r < 0.45 else 2 if r < 0.75 else 3 if r < 0.92 else 4
        if k == 1:
            chosen = [bisect(popularity, rnd() * total_weight, 0, last_index)]
        else:
            if k > most_lines:
                k = most_lines
            distinct: set[int] = set()
            while len(distinct) < k:
                distinct.add(bisect(popularity, rnd() * total_weight, 0, last_index))
            chosen = sorted(distinct)
        placed_text = ts(placed)
        sale_tail = f"\tsale\t{oid}\t{ACTOR}\t{placed_text}\n"
        total = 0
        items = []
        for index in chosen:
            r = rnd()
            quantity = 1 if r < 0.72 else 2 if r < 0.92 else 3 if r < 0.98 else 4
            price = prices[index]
            total += quantity * price
            sold[index] += quantity
            last_moved[index] = placed  # orders come in placed_at order
            pid = first_pid + index
            lines.append(f"{oid}\t{pid}\t{quantity}\t{price}\n")
            mid += 1
            movements.append(f"{mid}\t{pid}\t{-quantity}{sale_tail}")
            items.append((index, quantity))
        if status == "cancelled":
            heapq.heappush(pending_cancels, (updated, oid, items))
        customer = first_cid + int(n_customers * rnd() ** 1.5)  # some customers buy more
        orders.append(
            f"{oid}\t{customer}\t{status}\t{total}\t{placed_text}\t{ts(updated)}\n"
        )
        if len(orders) == batch_orders:
            yield batch()
    cancel_movements(None)
    if orders or movements:
        yield batch()


def _status_shares(age: int) -> tuple[float, float, float]:
    for limit, shares in STATUS_BY_AGE:
        if limit is None or age < limit:
            return shares
    raise AssertionError("STATUS_BY_AGE ends with None")


def restock_amounts(plan: Plan, tally: Tally) -> list[int]:
    """Each product's one restock: all it sold plus some left over (a few run out)."""
    rng = _rng(plan, "restock")
    amounts = []
    for sold in tally.sold:
        r = rng.random()
        left = 0 if r < 0.03 else rng.randint(1, 9) if r < 0.15 else rng.randint(10, 400)
        amounts.append(max(1, sold + left))
    return amounts


def restock_rows(plan: Plan, catalog: Catalog, amounts: list[int]) -> str:
    ts = _timestamps()
    first_pid, first_mid = plan.first_product_id, plan.first_movement_id
    return "".join(
        f"{first_mid + i}\t{first_pid + i}\t{amount}\trestock\t\\N\t{ACTOR}"
        f"\t{ts(catalog.created[i])}\n"
        for i, amount in enumerate(amounts)
    )


def product_rows(plan: Plan, catalog: Catalog, amounts: list[int], tally: Tally) -> str:
    """Products with stock = restock - sold + returned (the sum of their movements)."""
    ts = _timestamps()
    out = []
    for i, amount in enumerate(amounts):
        stock = amount - tally.sold[i] + tally.returned[i]
        updated = max(catalog.created[i], tally.last_moved[i])
        active = "t" if catalog.active[i] else "f"
        out.append(
            f"{plan.first_product_id + i}\t{catalog.skus[i]}\t{catalog.names[i]}"
            f"\t{catalog.prices[i]}\t{stock}\t{active}\t{ts(catalog.created[i])}\t{ts(updated)}\n"
        )
    return "".join(out)


def new_tally(plan: Plan) -> Tally:
    # Movements start with one restock per product (their ids come first).
    return Tally([0] * plan.products, [0] * plan.products, [0] * plan.products,
                 movements=plan.products)


# --------------------------------------------------------------------------------------------
# Loading: one transaction, user triggers off, FKs and secondary indexes rebuilt at the end.
# --------------------------------------------------------------------------------------------


def _table(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SHOP), sql.Identifier(name))


def copy_sql(table: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        _table(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table]))
    )


@dataclass
class BulkLoad:
    """What was switched off for the load, to be put back exactly as it was."""

    triggers: list[tuple[str, str, str]]  # table, trigger, tgenabled
    foreign_keys: list[tuple[str, str, str, str | None]]  # table, name, definition, comment
    indexes: list[tuple[str, str, str | None]]  # name, definition, comment


def lock_shop(cur: psycopg.Cursor[Any], timeout: str = LOCK_TIMEOUT) -> None:
    """Lock the five tables (waiting at most ``timeout``) so nobody sees a half-done seed."""
    cur.execute("SELECT set_config('lock_timeout', %s, true)", [timeout])
    try:
        cur.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join(_table(t) for t in TABLES)
            )
        )
    except psycopg.errors.LockNotAvailable as exc:
        raise MergepointError(
            f"the shop tables are in use by another session (waited {timeout}): "
            "retry when it is done"
        ) from exc
    cur.execute("SELECT set_config('lock_timeout', '0', true)")


def begin_bulk_load(cur: psycopg.Cursor[Any]) -> BulkLoad:
    """Disable the user triggers; drop the FKs and secondary indexes of the five tables.

    Only what can be recreated exactly from the catalog is dropped: valid indexes in the
    default tablespace that back no constraint, are no replica identity and not clustered.
    """
    tables = [f"{SHOP}.{t}" for t in TABLES]
    triggers = cur.execute(
        """SELECT c.relname, t.tgname, t.tgenabled
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgrelid = ANY(%s::regclass[]) AND NOT t.tgisinternal AND t.tgenabled <> 'D'
            ORDER BY 1, 2""",
        [tables],
    ).fetchall()
    foreign_keys = cur.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid),
                  obj_description(c.oid, 'pg_constraint')
             FROM pg_constraint c
            WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype = 'f'
            ORDER BY c.conrelid, c.conname""",
        [tables],
    ).fetchall()
    indexes = cur.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
                  obj_description(i.indexrelid, 'pg_class')
             FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
            WHERE i.indrelid = ANY(%s::regclass[])
              AND i.indisvalid AND NOT i.indisreplident AND NOT i.indisclustered
              AND x.reltablespace = 0
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1""",
        [tables],
    ).fetchall()
    for table, trigger, _state in triggers:
        cur.execute(
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                _table(table), sql.Identifier(trigger)
            )
        )
    for table, name, _definition, _comment in foreign_keys:
        cur.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table), sql.Identifier(name)
            )
        )
    for name, _definition, _comment in indexes:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    return BulkLoad(triggers, foreign_keys, indexes)


_ENABLE = {"O": "ENABLE TRIGGER", "A": "ENABLE ALWAYS TRIGGER", "R": "ENABLE REPLICA TRIGGER"}


def end_bulk_load(cur: psycopg.Cursor[Any], load: BulkLoad, progress: Progress) -> None:
    """Rebuild the indexes, re-add (and so re-check) the FKs, re-enable the triggers."""
    # Names and definitions come from the catalog (pg_get_*def), never from user input.
    for done, (name, definition, comment) in enumerate(load.indexes, 1):
        cur.execute(sql.SQL(definition))
        if comment is not None:
            cur.execute(
                sql.SQL("COMMENT ON INDEX {} IS {}").format(sql.SQL(name), sql.Literal(comment))
            )
        progress("indexes", done, len(load.indexes))
    for done, (table, name, definition, comment) in enumerate(load.foreign_keys, 1):
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
        )
        if comment is not None:
            cur.execute(
                sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
                    sql.Identifier(name), sql.SQL(table), sql.Literal(comment)
                )
            )
        progress("constraints", done, len(load.foreign_keys))
    for table, trigger, state in load.triggers:
        cur.execute(
            sql.SQL("ALTER TABLE {} {} {}").format(
                _table(table), sql.SQL(_ENABLE[state]), sql.Identifier(trigger)
            )
        )


def shop_is_empty(cur: psycopg.Cursor[Any]) -> bool:
    query = sql.SQL(" AND ").join(
        sql.SQL("NOT EXISTS (SELECT 1 FROM {})").format(_table(t)) for t in TABLES
    )
    row = cur.execute(sql.SQL("SELECT ") + query).fetchone()
    return bool(row and row[0])


def next_ids(cur: psycopg.Cursor[Any]) -> dict[str, int]:
    """The first free id of each identity table: past its rows and its sequence."""
    ids = {}
    for table in IDENTITY_TABLES:
        row = cur.execute(
            sql.SQL(
                "SELECT greatest((SELECT max(id) FROM {}),"
                " pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 0)"
            ).format(_table(table)),
            [f"{SHOP}.{table}"],
        ).fetchone()
        ids[table] = int(row[0]) + 1 if row else 1
    return ids


def advance_sequences(cur: psycopg.Cursor[Any], last_ids: dict[str, int]) -> None:
    """COPY with explicit ids leaves identity sequences behind: move them past the rows."""
    for table, last in last_ids.items():
        cur.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [f"{SHOP}.{table}", last]
        )


def copy_chunks(
    cur: psycopg.Cursor[Any],
    table: str,
    chunks: Iterator[tuple[str, int]],
    progress: Progress,
    phase: str,
    total: int,
) -> int:
    done = 0
    with cur.copy(copy_sql(table)) as copy:
        for text, rows in chunks:
            copy.write(text)
            done += rows
            progress(phase, done, total)
    return done


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
                cur.execute(sql.SQL("ANALYZE {}").format(_table(table)))
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


# --------------------------------------------------------------------------------------------
# The command: mounted by schema/cli.py as `mergepoint seed`.
# --------------------------------------------------------------------------------------------


class _SeedCommand(click.Command):
    """Bad option values become a MergepointError: the CLI prints one line and exits 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise MergepointError(
                f"{exc.format_message().rstrip('.')} (see: mergepoint seed --help)"
            ) from exc


@click.command("seed", cls=_SeedCommand)
@click.option("--customers", type=int, default=1_000, show_default=True,
              help="How many customers to create. Example: --customers 100000")
@click.option("--products", type=int, default=200, show_default=True,
              help="How many products to create (each gets one restock). Example: --products 5000")
@click.option("--orders", type=int, default=10_000, show_default=True,
              help="How many orders, with 1-4 lines each; every status appears from 4 orders "
              "on. One million takes well under a minute. Example: --orders 1000000")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True,
              help="Random seed: the same seed and sizes give the same rows "
              "(timestamps relative to the start of today, UTC). Example: --seed 7")
@click.option("--append", is_flag=True,
              help="Add a batch (new customers and products, and orders of those) to a shop "
              "that already has rows; without it a non-empty shop is refused. "
              "Example: mergepoint seed --append --customers 10 --products 5 --orders 500")
def seed_command(customers: int, products: int, orders: int, seed_value: int, append: bool) -> None:
    """Fill the shop with demo customers, products and orders, and their stock ledger.

    Everything is loaded with COPY in one transaction (the shop's tables are locked
    meanwhile) and every database rule holds afterwards: stock is the sum of the ledger,
    each order line has its sale movement, each cancelled order its cancel movements.
    Orders are spread over the last 180 days, in every status.

    \b
    Examples:
      mergepoint seed
      mergepoint seed --customers 100000 --products 5000 --orders 1000000 --seed 7
      mergepoint seed --append --customers 10 --products 5 --orders 500
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    validate_sizes(customers, products, orders)
    url = db.owner_url()
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, Any] = {}

    def show(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with db.connect(url) as conn, bar:
        result = seed_shop(
            conn,
            customers=customers,
            products=products,
            orders=orders,
            seed=seed_value,
            append=append,
            progress=show,
        )
    statuses = ", ".join(f"{s} {n:,}" for s, n in result.statuses.items())
    click.echo(
        f"seeded {result.customers:,} customers, {result.products:,} products, "
        f"{result.orders:,} orders ({statuses}), {result.order_lines:,} order lines, "
        f"{result.stock_movements:,} stock movements in {result.seconds:.1f}s "
        f"({result.rows / max(result.seconds, 1e-9):,.0f} rows/s)"
    )
