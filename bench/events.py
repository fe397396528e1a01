"""The outbox's cost and speed, each beside its baseline in the same run.

1. Placing orders (an order and one line, as the storefront role, 8 pgbench clients) with
   the outbox, without it (its three event triggers disabled), and with a NOTIFY on every
   event (the wake-up we did not choose): the ratios to "without".
2. Commit-to-handled latency: staff mark orders paid one at a time; the storefront's
   consumer (apps/flask_app/events.py, polling every 15 ms) writes the notification; p50
   and p99 from the writer's commit to the consumer's handling.
3. Consumer throughput: 20,000 events waiting, drained with batches of 100 and of 1,000.

    python -m bench.events [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from bench import pgbench
from bench.common import PREFIX, connect, report, scratch_database
from schema import db, events, stack

ORDER = """\\set pid random(1, 50)
BEGIN;
INSERT INTO shop.orders (customer_id) VALUES (1) RETURNING id AS oid \\gset
INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (:oid, :pid, 1);
COMMIT;
"""
EVENT_TRIGGERS = (
    ("shop.orders", "events_order_placed"),
    ("shop.orders", "events_order_status_changed"),
    ("shop.products", "events_price_changed"),
)
NOTIFY = """
CREATE FUNCTION events.bench_notify() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM pg_notify('mergepoint_events', NEW.topic); RETURN NULL; END $$;
CREATE TRIGGER bench_notify AFTER INSERT ON events.outbox
    FOR EACH ROW EXECUTE FUNCTION events.bench_notify();
"""


def prepare(url: str) -> None:
    storefront = db.role_urls(url, PREFIX)["storefront"]
    stack.run_app_migrations({"storefront": stack.app_env("storefront", storefront)})
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('mergepoint.actor', 'bench', false)")
        conn.execute("INSERT INTO shop.customers (email, name) VALUES ('b@example.com', 'B')")
        for i in range(50):
            pid = conn.execute(
                "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, %s, 100)"
                " RETURNING id",
                [f"BENCH-{i}", f"Bench {i}"],
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                " VALUES (%s, 1000000, 'restock')",
                [pid],
            )


def set_mode(url: str, mode: str) -> None:
    with connect(url, autocommit=True) as conn:
        verb = "DISABLE" if mode == "without" else "ENABLE"
        for table, trigger in EVENT_TRIGGERS:
            conn.execute(f"ALTER TABLE {table} {verb} TRIGGER {trigger}")
        conn.execute("DROP TRIGGER IF EXISTS bench_notify ON events.outbox")
        conn.execute("DROP FUNCTION IF EXISTS events.bench_notify()")
        if mode == "notify":
            conn.execute(NOTIFY)


def placement(url: str, seconds: int, rounds: int) -> dict[str, float]:
    storefront = db.role_urls(url, PREFIX)["storefront"]
    results: dict[str, list[float]] = {"without": [], "outbox": [], "notify": []}
    for _ in range(rounds):
        for mode in results:
            set_mode(url, mode)
            results[mode].append(pgbench.run(storefront, ORDER, clients=8, seconds=seconds).tps)
    set_mode(url, "outbox")
    return {mode: statistics.median(values) for mode, values in results.items()}


def latency(url: str, n: int = 400) -> dict[str, float]:
    from apps.flask_app import events as consumer
    from apps.flask_app.db import make_engine

    urls = db.role_urls(url, PREFIX)
    with connect(urls["storefront"], autocommit=True) as conn:
        customer = conn.execute(
            "INSERT INTO shop.customers (email, name) VALUES ('l@example.com', 'L') RETURNING id"
        ).fetchone()[0]
        orders = []
        for _ in range(n):
            with conn.transaction():
                oid = conn.execute(
                    "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO shop.order_lines (order_id, product_id, quantity)"
                    " SELECT %s, min(id), 1 FROM shop.products",
                    [oid],
                )
            orders.append(oid)
    committed: dict[int, float] = {}
    handled: dict[int, float] = {}
    engine = make_engine(urls["storefront"], pool_size=1, application_name="bench-events")
    stop = threading.Event()
    worker = threading.Thread(
        target=consumer.consume,
        args=(engine, stop),
        kwargs={"effect": lambda notice: handled.setdefault(notice.order_id, time.perf_counter())},
    )
    worker.start()
    try:
        with connect(urls["backoffice"], autocommit=True) as staff:
            for oid in orders:
                staff.execute("UPDATE shop.orders SET status = 'paid' WHERE id = %s", [oid])
                committed[oid] = time.perf_counter()
                time.sleep(0.01)
        deadline = time.monotonic() + 30
        while len(handled) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(30)
        engine.dispose()
    delays = sorted((handled[o] - committed[o]) * 1000 for o in orders if o in handled)
    return {
        "events": len(delays),
        "p50_ms": round(statistics.median(delays), 2),
        "p99_ms": round(delays[int(len(delays) * 0.99) - 1], 2),
    }


def throughput(url: str, n: int = 20_000) -> dict[int, float]:
    urls = db.role_urls(url, PREFIX)
    out = {}
    for batch in (100, 1000):
        with connect(url, autocommit=True) as conn:  # a subscription of its own, from now
            conn.execute(
                "INSERT INTO events.subscriptions (consumer, role_name, topics)"
                " VALUES (%s, %s, '{product.price_changed}')",
                [f"bench-{batch}", PREFIX + "storefront"],
            )
            pids = [r[0] for r in conn.execute("SELECT id FROM shop.products").fetchall()]
            with conn.transaction():
                for i in range(n):
                    conn.execute(
                        "UPDATE shop.products SET price_cents = %s WHERE id = %s",
                        [200 + i, pids[i % len(pids)]],
                    )
        taken = 0
        start = time.perf_counter()
        with connect(urls["storefront"]) as conn:
            while taken < n:
                with conn.transaction():
                    rows = conn.execute(
                        "SELECT id, txid::text FROM events.poll(%s, %s)", [f"bench-{batch}", batch]
                    ).fetchall()
                    if rows:
                        conn.execute(
                            "SELECT events.ack(%s, %s::xid8, %s)",
                            [f"bench-{batch}", rows[-1][1], rows[-1][0]],
                        )
                taken += len(rows)
        out[batch] = n / (time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with scratch_database("events") as url:
        prepare(url)
        events.reconcile(url, PREFIX, [
            {"role": "storefront", "subscriptions": [
                {"name": "storefront-notifications",
                 "topics": ["order.cancelled", "order.paid", "order.shipped"]}]},
        ])  # fmt: skip
        tps = placement(url, args.seconds, args.rounds)
        lat = latency(url)
        rate = throughput(url)
    rows = [
        ["orders/s without the outbox (pgbench, 8 clients)", f"{tps['without']:,.0f}"],
        ["orders/s with the outbox", f"{tps['outbox']:,.0f}"],
        ["  ratio with / without (aim >= 0.9)", f"{tps['outbox'] / tps['without']:.2f}"],
        ["orders/s with the outbox and a NOTIFY per event", f"{tps['notify']:,.0f}"],
        ["  ratio NOTIFY / without", f"{tps['notify'] / tps['without']:.2f}"],
        ["commit -> handled p50 (15 ms poll)", f"{lat['p50_ms']} ms"],
        ["commit -> handled p99 (aim < 50 ms)", f"{lat['p99_ms']} ms"],
        ["consumer throughput, batches of 100", f"{rate[100]:,.0f} events/s"],
        ["consumer throughput, batches of 1000", f"{rate[1000]:,.0f} events/s"],
    ]
    report(
        "events",
        "The outbox: cost on order placement, delivery latency, consumer throughput",
        ["measure", "value"],
        rows,
        {
            "orders_per_s": tps,
            "ratio_outbox": round(tps["outbox"] / tps["without"], 3),
            "ratio_notify": round(tps["notify"] / tps["without"], 3),
            "latency": lat,
            "consumer_events_per_s": {str(k): round(v) for k, v in rate.items()},
            "seconds": args.seconds,
            "rounds": args.rounds,
        },
    )


if __name__ == "__main__":
    main()
