"""The daily sales rollup (backoffice/sales.py) agrees with the reports, exactly.

Each test has its own database (``fresh_db``), so the reports and the rollup count the
same orders and nothing else. The rollup is driven as the consumer drives it: batches of
the ``backoffice-sales`` subscription, as the back office's role, each in its own
transaction. History comes from the demo seed (COPY, triggers off, one
``shop.bulk_loaded`` event) and live orders through the rules (each with its events).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta

import psycopg

from apps.django_app.backoffice import dashboard, sales
from schema import events as schema_events
from schema import reports
from schema.paths import ROOT
from schema.seed import seed_shop, start_of_today
from tests.concurrency import race
from tests.data import Shop
from tests.django_app.conftest import MANAGE, consuming, manage_env


def pending(owner: psycopg.Connection) -> int:
    """Events of the sales subscription not yet acknowledged (committed or not)."""
    return owner.execute(
        "SELECT count(*) FROM events.outbox o, events.subscriptions s"
        " WHERE s.consumer = %s AND o.topic = ANY (s.topics)"
        " AND (o.txid, o.id) > (s.cursor_txid, s.cursor_id)",
        [sales.CONSUMER],
    ).fetchone()[0]


def batch(conn: psycopg.Connection, limit: int = 1000) -> sales.Batch:
    with conn.transaction(), conn.cursor() as cursor:
        return sales.handle_batch(cursor, limit)


def drain(database, deadline: float = 30) -> list[sales.Batch]:
    """Consume until every event of the subscription is acknowledged."""
    taken = []
    end = time.monotonic() + deadline
    with database.connect("backoffice", autocommit=True) as conn, database.connect(
        autocommit=True
    ) as owner:
        while pending(owner):
            assert time.monotonic() < end, "not delivered in time"
            done = batch(conn)
            if done.events:
                taken.append(done)
            else:
                time.sleep(0.02)
    return taken


def rollup_counts(database, first: date, last: date):
    with database.connect("backoffice") as conn, conn.cursor() as cursor:
        return sales.days(cursor, first, last)


def report_rows(database, name: str, first: date, last: date) -> list[tuple]:
    with database.connect("reporting") as conn:
        found = reports.find(name)
        return reports.run(found, conn, {"date_from": first, "date_to": last}).rows


def assert_agrees(database, days: int = 200) -> None:
    """The rollup's sales by day and funnel are the reports', row for row."""
    last = datetime.now(UTC).date()
    first = last - timedelta(days=days - 1)
    counts = rollup_counts(database, first, last)
    ours = [
        (d.day, d.orders, d.units, d.revenue_cents, d.cancelled_orders)
        for d in dashboard.sales_by_day(counts, first, last)
    ]
    theirs = report_rows(database, "sales_by_day", first, last)
    assert ours == theirs
    steps = [(s.status, s.orders, s.share_percent, s.value_cents) for s in dashboard.funnel(counts)]
    assert steps == report_rows(database, "order_status_funnel", first, last)


def seed(database, orders: int, *, append: bool = False, seed_value: int = 7) -> None:
    with database.connect(autocommit=True) as owner:
        seed_shop(
            owner,
            customers=max(20, orders // 10),
            products=25,
            orders=orders,
            seed=seed_value,
            append=append,
            now=start_of_today(),
        )


def history_orders(shop: Shop, status: str) -> list[int]:
    return [
        r[0]
        for r in shop.conn.execute(
            "SELECT id FROM shop.orders WHERE status = %s ORDER BY id LIMIT 5", [status]
        ).fetchall()
    ]


def live_traffic(shop: Shop) -> None:
    """Orders through the rules, today and in the past, and moves of seeded orders."""
    pid, other = shop.product(stock=500, price=1250), shop.product(stock=500, price=399)
    for status in ("placed", "paid", "shipped", "cancelled", "cancelled", "placed"):
        shop.order({pid: 2, other: 1}, status=status)
    paid_then_cancelled = shop.order({other: 3}, status="paid")
    shop.set_status(paid_then_cancelled, "cancelled")
    for days_ago in (3, 40, 170):
        placed_at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
        oid = shop.order({pid: 1}, placed_at=placed_at)
        if days_ago == 40:
            shop.cancel(oid)
    placed, paid = history_orders(shop, "placed"), history_orders(shop, "paid")
    for oid in placed[:2]:
        shop.set_status(oid, "cancelled")  # staff cancel seeded orders
    shop.set_status(placed[2], "paid")
    for oid in paid[:2]:
        shop.set_status(oid, "shipped")
    shop.set_status(paid[2], "cancelled")


def test_the_rollup_agrees_with_the_reports_over_180_seeded_days(fresh_db):
    seed(fresh_db, 1500)
    shop = Shop(fresh_db)
    try:
        live_traffic(shop)
    finally:
        shop.close()
    batches = drain(fresh_db)
    # The seed's bulk load, in the first batch, built the rollup from every order.
    assert batches[0].rebuilt is not None and batches[0].rebuilt >= 1500
    assert [b.rebuilt for b in batches[1:]] == [None] * (len(batches) - 1)
    with fresh_db.connect() as owner:
        statuses = dict(owner.execute("SELECT status, count(*) FROM shop.orders GROUP BY 1"))
    assert set(statuses) == {"placed", "paid", "shipped", "cancelled"}
    assert_agrees(fresh_db)


def test_a_seed_after_the_build_is_counted_by_a_rebuild(fresh_db):
    seed(fresh_db, 400)
    drain(fresh_db)
    shop = Shop(fresh_db)
    try:
        live_traffic(shop)
        # Events only, no rebuild (in one batch or several: the delivery horizon is the
        # cluster's, so other databases' open transactions may split them).
        batches = drain(fresh_db)
        assert batches and [b.rebuilt for b in batches] == [None] * len(batches)
        seed(fresh_db, 300, append=True, seed_value=8)  # triggers off: no order events
        shop.cancel(shop.order({shop.product(stock=5): 1}))
    finally:
        shop.close()
    rebuilt = drain(fresh_db)
    assert rebuilt[0].rebuilt == 400 + 300 + 6 + 1 + 3 + 1
    assert_agrees(fresh_db)


def test_a_replayed_subscription_counts_nothing_twice(fresh_db):
    seed(fresh_db, 300)
    started = datetime.now(UTC)
    drain(fresh_db)  # built: the orders below are counted from their events only
    shop = Shop(fresh_db)
    try:
        live_traffic(shop)
    finally:
        shop.close()
    drain(fresh_db)
    before = rollup_counts(fresh_db, date(2000, 1, 1), date(2100, 1, 1))
    # An operator moves the cursor back: every event since `started` comes again.
    schema_events.replay(fresh_db.owner_url, sales.CONSUMER, since=started - timedelta(hours=1))
    again = drain(fresh_db)
    assert sum(b.events for b in again) >= 10 and all(b.rebuilt is None for b in again)
    assert rollup_counts(fresh_db, date(2000, 1, 1), date(2100, 1, 1)) == before
    assert_agrees(fresh_db)


def test_orders_racing_the_consumer_and_rebuilds_are_each_counted_once(fresh_db):
    """Storefront writers place and cancel orders while the consumer takes batches and two
    rebuilds run: whatever interleaving, every order counts once, on its day."""
    seed(fresh_db, 300)
    setup = Shop(fresh_db)
    try:
        products = [setup.product(stock=10_000, price=100 + i) for i in range(4)]
        customers = [setup.customer() for _ in range(3)]
    finally:
        setup.close()
    writers_done = threading.Event()
    rebuilds: list[int] = []

    def write(i: int) -> int:
        shop = Shop(fresh_db)
        try:
            for n in range(40):
                oid = shop.order({products[n % 4]: 1 + n % 3}, customer=customers[i])
                if n % 5 == 0:
                    shop.cancel(oid)
            return 40
        finally:
            shop.close()

    def consume() -> int:
        taken = 0
        with fresh_db.connect("backoffice", autocommit=True) as conn:
            while not writers_done.is_set():
                done = batch(conn, limit=25)
                taken += done.events
                if not done.events:
                    time.sleep(0.005)
        return taken

    def rebuild() -> int:
        with fresh_db.connect("backoffice", autocommit=True) as conn:
            for _ in range(2):
                time.sleep(0.2)
                with conn.transaction(), conn.cursor() as cursor:
                    rebuilds.append(sales.rebuild(cursor))
        return len(rebuilds)

    def work(i: int) -> int:
        if i < 3:
            try:
                return write(i)
            finally:
                if i == 0:
                    time.sleep(0.5)
        if i == 3:
            return rebuild()
        return consume()

    def all_written(i: int) -> int:
        try:
            return work(i)
        finally:
            if i < 3:
                finished.append(i)
                if len(finished) == 3:
                    writers_done.set()

    finished: list[int] = []
    results = race(5, all_written, timeout=120)
    assert results[:4] == [40, 40, 40, 2], results
    assert isinstance(results[4], int) and results[4] > 0, results  # it consumed meanwhile
    assert len(rebuilds) == 2 and rebuilds[0] > 300
    drain(fresh_db)
    assert_agrees(fresh_db)


def test_rebuild_sales_recounts_on_demand_and_the_consumer_builds_at_start(fresh_db):
    seed(fresh_db, 250)
    with consuming(fresh_db, "--subscription", sales.CONSUMER) as (consumer, lines):
        consumer.terminate()
        rest, _ = consumer.communicate(timeout=10)
    output = "".join(lines) + rest
    assert consumer.returncode == 0 and "Traceback" not in output, output
    # Started on a seeded shop with no rollup: built once, the seed's event then skipped.
    assert output.count("sales: built the rollup from 250 order(s)") == 1, output
    assert "rebuilt" not in output and "events: consuming backoffice-sales\n" in output
    assert_agrees(fresh_db)

    done = subprocess.run(
        [sys.executable, MANAGE, "rebuild_sales"],
        cwd=ROOT,
        env=manage_env(fresh_db),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sales: rebuilt the rollup from 250 order(s) over ")
    assert_agrees(fresh_db)
