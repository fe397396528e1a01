"""The admin index's dashboard: sales by day, the order status funnel, low stock.

Selectors (read-only, through the back office's role) and the geometry of the charts,
drawn as server-side SVG by ``admin/backoffice/dashboard.html``: no script, no CDN. Each
chart has its numbers as a table behind a ``<details>``.

Sales and the funnel come from the daily rollup (sales.py: at most 30 x 4 rows whatever
the history), and mean what the ``sales_by_day`` and ``order_status_funnel`` reports mean
for the last 30 days, UTC. Low stock reads the one threshold in ``shop.settings``. Each
part is shown only to who may see it: sales and the funnel with ``view_order``, low stock
with ``view_product``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from apps.django_app.backoffice.models import (
    OrderStatus,
    Product,
    SalesDay,
    SalesRollupState,
    ShopSettings,
)

DAYS = 30
LOW_STOCK_SHOWN = 12
STATUSES = [s.value for s in OrderStatus]  # the funnel's order: placed, paid, shipped, cancelled

# Chart geometry, in SVG user units (the SVG scales to its container's width).
SALES_WIDTH, SALES_HEIGHT, SALES_TOP = 600, 180, 16
ROW_HEIGHT, LABEL_WIDTH, BAR_WIDTH = 26, 150, 380


def today() -> date:
    """Today in UTC: the reports' days (``sales_by_day``'s default time zone)."""
    return timezone.now().astimezone(UTC).date()


@dataclass(frozen=True)
class Day:
    day: date
    orders: int
    units: int
    revenue_cents: int
    cancelled_orders: int
    # the bar
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0


@dataclass(frozen=True)
class Step:
    status: str
    orders: int
    share_percent: Decimal | None
    value_cents: int
    y: float = 0
    width: float = 0

    @property
    def label_x(self) -> float:
        return LABEL_WIDTH + self.width + 6


@dataclass(frozen=True)
class LowStock:
    id: int
    sku: str
    name: str
    stock: int
    y: float = 0
    width: float = 0

    @property
    def label_x(self) -> float:
        return LABEL_WIDTH + self.width + 6


def rollup(first: date, last: date) -> dict[tuple[date, str], tuple[int, int, int]]:
    """(day, status) -> (orders, units, value_cents), one indexed range of the rollup."""
    rows = (
        SalesDay.objects.filter(day__range=(first, last))
        .order_by()
        .values_list("day", "status", "orders", "units", "value_cents")
    )
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def sales_by_day(
    counts: dict[tuple[date, str], tuple[int, int, int]], first: date, last: date
) -> list[Day]:
    """One row per day as ``sales_by_day`` has it: cancelled orders apart, not in sales."""
    out = []
    day = first
    while day <= last:
        sold = [counts.get((day, s), (0, 0, 0)) for s in STATUSES if s != OrderStatus.CANCELLED]
        out.append(
            Day(
                day=day,
                orders=sum(c[0] for c in sold),
                units=sum(c[1] for c in sold),
                revenue_cents=sum(c[2] for c in sold),
                cancelled_orders=counts.get((day, OrderStatus.CANCELLED), (0, 0, 0))[0],
            )
        )
        day += timedelta(days=1)
    return out


def share(part: int, whole: int) -> Decimal | None:
    """``round(100.0 * part / whole, 1)`` as PostgreSQL rounds it (half away from zero)."""
    if not whole:
        return None
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def funnel(counts: dict[tuple[date, str], tuple[int, int, int]]) -> list[Step]:
    """Where the orders of the period stand now, as ``order_status_funnel`` has it."""
    totals = {s: [0, 0] for s in STATUSES}
    for (_day, status), (orders, _units, value) in counts.items():
        totals[status][0] += orders
        totals[status][1] += value
    whole = sum(t[0] for t in totals.values())
    return [Step(s, totals[s][0], share(totals[s][0], whole), totals[s][1]) for s in STATUSES]


# --- the pictures ------------------------------------------------------------------------


def sales_bars(days: list[Day]) -> list[Day]:
    """A column per day, its height in proportion to the day's revenue."""
    top = max((d.revenue_cents for d in days), default=0)
    slot = SALES_WIDTH / max(len(days), 1)
    bars = []
    for i, d in enumerate(days):
        height = round(SALES_HEIGHT * d.revenue_cents / top, 2) if top else 0
        bars.append(
            Day(
                d.day, d.orders, d.units, d.revenue_cents, d.cancelled_orders,
                x=round(i * slot + 1, 2), y=round(SALES_TOP + SALES_HEIGHT - height, 2),
                width=round(slot - 2, 2), height=height,
            )  # fmt: skip
        )
    return bars


def funnel_bars(steps: list[Step]) -> list[Step]:
    top = max((s.orders for s in steps), default=0)
    return [
        Step(
            s.status, s.orders, s.share_percent, s.value_cents,
            y=i * ROW_HEIGHT, width=round(BAR_WIDTH * s.orders / top, 2) if top else 0,
        )  # fmt: skip
        for i, s in enumerate(steps)
    ]


def low_stock_bars(products: list[LowStock], threshold: int) -> list[LowStock]:
    """A bar per product, full width at the threshold (every one is at or below it)."""
    scale = max(threshold, 1)
    return [
        LowStock(
            p.id, p.sku, p.name, p.stock,
            y=i * ROW_HEIGHT, width=round(BAR_WIDTH * min(p.stock, scale) / scale, 2),
        )  # fmt: skip
        for i, p in enumerate(products)
    ]


def low_stock(threshold: int) -> tuple[list[LowStock], int]:
    """The active products at or below the threshold, emptiest first; and how many."""
    query = Product.objects.filter(active=True, stock__lte=threshold)
    shown = [
        LowStock(p[0], p[1], p[2], p[3])
        for p in query.order_by("stock", "sku").values_list("id", "sku", "name", "stock")[
            :LOW_STOCK_SHOWN
        ]
    ]
    total = len(shown) if len(shown) < LOW_STOCK_SHOWN else query.count()
    return shown, total


def for_user(user: Any) -> dict[str, Any]:
    """What the dashboard shows this staff user: only what their permissions let them see."""
    context: dict[str, Any] = {
        "show_sales": user.has_perm("backoffice.view_order"),
        "show_stock": user.has_perm("backoffice.view_product"),
    }
    if context["show_sales"]:
        last = today()
        first = last - timedelta(days=DAYS - 1)
        state = SalesRollupState.objects.values("built_at", "applied_at").first()
        counts = rollup(first, last) if state else {}
        days = sales_bars(sales_by_day(counts, first, last))
        steps = funnel(counts)
        context.update(
            rollup_state=state,
            first=first,
            last=last,
            days=days,
            top_revenue_cents=max(d.revenue_cents for d in days),
            steps=funnel_bars(steps),
            funnel_orders=sum(s.orders for s in steps),
            funnel_height=ROW_HEIGHT * len(steps),
        )
    if context["show_stock"]:
        threshold = ShopSettings.threshold()
        products, total = low_stock(threshold)
        context.update(
            threshold=threshold,
            low_stock=low_stock_bars(products, threshold),
            low_stock_total=total,
            low_stock_more=total - len(products),
            low_stock_height=ROW_HEIGHT * len(products),
        )
    context.update(
        sales_width=SALES_WIDTH,
        sales_height=SALES_TOP + SALES_HEIGHT + 20,
        sales_baseline=SALES_TOP + SALES_HEIGHT,
        label_width=LABEL_WIDTH,
        bar_width=BAR_WIDTH,
        bar_end=LABEL_WIDTH + BAR_WIDTH,
        chart_width=LABEL_WIDTH + BAR_WIDTH + 120,
        row_height=ROW_HEIGHT,
    )
    return context
