"""Cost of the database's rules per order, at small and large history.

For a history of 1 thousand and of 1 million seeded orders, place orders (an order and
two lines, one transaction, as the storefront role) and cancel them (one conditional
UPDATE; the database returns the stock). The baseline, in the same database and run, is
the same work done the app-side way with the user triggers disabled: the app takes the
stock with a conditional UPDATE, writes the ledger rows and the total itself.

    python -m bench.triggers                 # 1k vs 1M history (seeding 1M takes a while)
    python -m bench.triggers --large 100000  # quicker
"""

from __future__ import annotations

import argparse
import time

from bench.common import PREFIX, connect, report, scratch_database, summary
from schema import db
from schema.seed import seed_shop

ORDER_SQL = "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id"
LINE_SQL = (
    "INSERT INTO shop.order_lines (order_id, product_id, quantity, unit_price_cents)"
    " VALUES (%s, %s, %s, %s)"
)
CANCEL_SQL = (
    "UPDATE shop.orders SET status = 'cancelled' WHERE id = %s AND status IN ('placed', 'paid')"
)


def prepare(url: str, orders: int) -> tuple[int, list[tuple[int, int]]]:
    """Seed ``orders`` orders; return a customer and two products with plenty of stock."""
    with connect(url, autocommit=True) as conn:
        seed_shop(conn, customers=max(100, orders // 20), products=500, orders=orders, seed=7)
        customer = conn.execute("SELECT min(id) FROM shop.customers").fetchone()[0]
        products = conn.execute(
            "SELECT id, price_cents FROM shop.products ORDER BY id LIMIT 2"
        ).fetchall()
        for pid, _ in products:
            conn.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                " VALUES (%s, 1000000, 'restock')",
                [pid],
            )
        conn.execute("VACUUM ANALYZE")
    return customer, products


def with_triggers(url: str, customer: int, products, n: int) -> dict[str, dict]:
    storefront = db.role_urls(url, PREFIX)["storefront"]
    place, cancel, ids = [], [], []
    with connect(storefront) as conn:
        for _ in range(n):
            start = time.perf_counter()
            with conn.transaction():
                oid = conn.execute(ORDER_SQL, [customer]).fetchone()[0]
                for pid, price in products:
                    conn.execute(LINE_SQL, [oid, pid, 1, price])
            place.append(time.perf_counter() - start)
            ids.append(oid)
        for oid in ids:
            start = time.perf_counter()
            with conn.transaction():
                conn.execute(CANCEL_SQL, [oid])
            cancel.append(time.perf_counter() - start)
    return {"place": summary(place), "cancel": summary(cancel)}


def app_side(url: str, customer: int, products, n: int) -> dict[str, dict]:
    """The same effects written by the application, user triggers off (owner only)."""
    place, cancel, ids = [], [], []
    with connect(url) as conn:
        for table in ("products", "orders", "order_lines", "stock_movements"):
            conn.execute(f"ALTER TABLE shop.{table} DISABLE TRIGGER USER")
        conn.commit()
        try:
            for _ in range(n):
                start = time.perf_counter()
                with conn.transaction():
                    oid = conn.execute(ORDER_SQL, [customer]).fetchone()[0]
                    for pid, price in products:
                        taken = conn.execute(
                            "UPDATE shop.products SET stock = stock - 1"
                            " WHERE id = %s AND stock >= 1",
                            [pid],
                        ).rowcount
                        assert taken == 1
                        conn.execute(LINE_SQL, [oid, pid, 1, price])
                        conn.execute(
                            "INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)"
                            " VALUES (%s, -1, 'sale', %s)",
                            [pid, oid],
                        )
                    conn.execute(
                        "UPDATE shop.orders SET total_cents = %s WHERE id = %s",
                        [sum(p for _, p in products), oid],
                    )
                place.append(time.perf_counter() - start)
                ids.append(oid)
            for oid in ids:
                start = time.perf_counter()
                with conn.transaction():
                    if conn.execute(CANCEL_SQL, [oid]).rowcount:
                        for pid, _ in products:
                            conn.execute(
                                "UPDATE shop.products SET stock = stock + 1 WHERE id = %s", [pid]
                            )
                            conn.execute(
                                "INSERT INTO shop.stock_movements"
                                " (product_id, delta, reason, order_id)"
                                " VALUES (%s, 1, 'cancel', %s)",
                                [pid, oid],
                            )
                cancel.append(time.perf_counter() - start)
        finally:
            conn.rollback()
            for table in ("products", "orders", "order_lines", "stock_movements"):
                conn.execute(f"ALTER TABLE shop.{table} ENABLE TRIGGER USER")
            conn.commit()
    return {"place": summary(place), "cancel": summary(cancel)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="orders of small history")
    parser.add_argument("--large", type=int, default=1_000_000, help="orders of large history")
    parser.add_argument("-n", type=int, default=1_000, help="orders placed per measurement")
    args = parser.parse_args()

    results: dict[str, dict] = {}
    for label, size in (("small", args.small), ("large", args.large)):
        with scratch_database(f"trg{label}") as url:
            start = time.perf_counter()
            customer, products = prepare(url, size)
            seeded = time.perf_counter() - start
            results[label] = {
                "history_orders": size,
                "seed_seconds": round(seeded, 1),
                "triggers": with_triggers(url, customer, products, args.n),
                "app_side": app_side(url, customer, products, args.n),
            }

    rows = []
    for label in ("small", "large"):
        r = results[label]
        for op in ("place", "cancel"):
            t, a = r["triggers"][op], r["app_side"][op]
            rows.append([
                f"{r['history_orders']:,} orders", op,
                t["ops_per_s"], t["p50_ms"], t["p95_ms"],
                a["ops_per_s"], round(t["ops_per_s"] / a["ops_per_s"], 2),
            ])  # fmt: skip
    flat = {
        op: round(
            results["large"]["triggers"][op]["ops_per_s"]
            / results["small"]["triggers"][op]["ops_per_s"],
            2,
        )
        for op in ("place", "cancel")
    }
    # p50 is the robust figure on a shared machine; tx/s is a mean and takes every hiccup.
    flat_p50 = {
        op: round(
            results["large"]["triggers"][op]["p50_ms"] / results["small"]["triggers"][op]["p50_ms"],
            2,
        )
        for op in ("place", "cancel")
    }
    rows.append(["large/small tx/s", "place / cancel", flat["place"], "", "", "", flat["cancel"]])
    rows.append(
        ["large/small p50", "place / cancel", "", flat_p50["place"], "", "", flat_p50["cancel"]]
    )
    report(
        "triggers",
        "Database rules per order: triggers vs the same work app-side (1 connection)",
        ["history", "op", "tx/s", "p50 ms", "p95 ms", "app-side tx/s", "ratio"],
        rows,
        {"results": results, "large_over_small": flat, "large_over_small_p50": flat_p50},
    )


if __name__ == "__main__":
    main()
