"""Pure generation of the demo shop: COPY text rows, in chunks, deterministic for a Plan.

Nothing here touches a database: ``customer_chunks``, ``make_catalog``, ``order_batches``,
``restock_rows`` and ``product_rows`` turn a ``Plan`` into the rows the bulk loader COPYs,
and a ``Tally`` records what the orders did to each product (so the restocks and the
products' stock can follow the sales exactly).
"""

from __future__ import annotations

import heapq
import random
import re
import unicodedata
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schema.tables import ORDER_STATUSES

DAY = 86_400
ORDER_WINDOW_DAYS = 180
ACTOR = "seed"
MAX_LINES_PER_ORDER = 4
CHUNK_ROWS = 4096
BATCH_ORDERS = 32_768

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

