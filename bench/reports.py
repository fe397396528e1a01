"""Each report's runtime on a large shop: the report runner beside the same SQL through
raw psycopg, in the same run, as the reporting role.

A scratch database (migrated, roles ``bench_``) is seeded with 1 million orders by
default (``schema.seed``) and ANALYZEd; then each report runs with its defaults (and the
date-range reports over 180 days too), median of ``--repeat`` runs. The runner's path
(load the file, check and bind the parameters, aiosql, fetch) should cost nothing next to
the query itself: the ratio raw/runner stays near 1.

    python -m bench.reports                   # 1M orders (seeding ~1 min)
    python -m bench.reports --orders 100000   # quicker
"""

from __future__ import annotations

import argparse
import statistics
import time

import aiosql

from bench.common import PREFIX, connect, report, scratch_database
from schema import db, reports
from schema.reports.runner import adapter_for
from schema.seed import seed_shop

CASES = [
    ("sales_by_day", {}),
    ("sales_by_day", {"date_from": "today-179"}),
    ("top_products", {}),
    ("top_products", {"date_from": "today-179"}),
    ("low_stock", {"threshold": "50"}),
    ("customer_lifetime_value", {}),
    ("order_status_funnel", {}),
    ("order_status_funnel", {"date_from": "today-179"}),
    ("ledger_audit", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders to seed")
    parser.add_argument("--repeat", type=int, default=3, help="runs per report (median)")
    args = parser.parse_args()

    with scratch_database("reports") as url:
        start = time.perf_counter()
        with connect(url, autocommit=True) as conn:
            seed_shop(
                conn,
                customers=max(100, args.orders // 10),
                products=5_000,
                orders=args.orders,
                seed=42,
            )
            conn.execute("VACUUM ANALYZE")
        seeded = time.perf_counter() - start
        rows, cases = [], []
        with connect(db.role_urls(url, PREFIX)["reporting"]) as conn:
            conn.execute("SET statement_timeout = 0")
            conn.commit()
            for name, given in CASES:
                found = reports.find(name)
                values = reports.bind(found, given)
                queries = aiosql.from_str(
                    found.source, adapter_for(conn), mandatory_parameters=False, attribute=None
                )
                raw_sql = getattr(queries, name).sql
                runner_times, raw_times, count = [], [], 0
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    result = reports.run(found, conn, given)
                    runner_times.append(time.perf_counter() - t)
                    conn.rollback()
                    t = time.perf_counter()
                    raw_rows = conn.execute(raw_sql, values).fetchall()
                    raw_times.append(time.perf_counter() - t)
                    conn.rollback()
                    count = len(result.rows)
                    assert len(raw_rows) == count
                runner_ms = statistics.median(runner_times) * 1000
                raw_ms = statistics.median(raw_times) * 1000
                label = name + (" (180 days)" if "date_from" in given else "")
                rows.append(
                    [
                        label,
                        count,
                        round(runner_ms, 1),
                        round(raw_ms, 1),
                        round(raw_ms / runner_ms, 2),
                    ]
                )
                cases.append(
                    {"report": name, "params": given, "rows": count,
                     "runner_ms": round(runner_ms, 1), "raw_ms": round(raw_ms, 1)}
                )  # fmt: skip
    report(
        "reports",
        f"Reports on {args.orders:,} orders: runner vs raw psycopg (reporting role)",
        ["report", "rows", "runner ms", "raw psycopg ms", "raw/runner"],
        rows,
        {"orders": args.orders, "seed_seconds": round(seeded, 1), "cases": cases},
    )


if __name__ == "__main__":
    main()
