"""`mergepoint seed` rows/s beside a plain psycopg COPY of the same rows, in the same run.

The rows are generated once (not timed) from the seed's own generator with the same plan,
so every contender loads exactly the same rows into a fresh, migrated database:

* ``copy``      — the baseline, "just COPY": one transaction, user triggers disabled (the
                  rows already carry what the triggers would write), then COPY of the five
                  tables into the migrated shape, foreign keys and indexes checked row by
                  row as PostgreSQL does by default; sequences set; commit.
* ``copy+bulk`` — the same COPY with the seed's bulk-load steps (FKs and secondary indexes
                  dropped and rebuilt from the catalog): loading alone, without generating.
* ``seed``      — ``seed_shop`` end to end: generating the rows, loading them, rebuilding,
                  ANALYZE.

    python -m bench.seed                     # 200k orders (20k customers, 5k products)
    python -m bench.seed --orders 1000000    # the 1M figure (about 3 minutes, baseline included)
    python -m bench.seed --repeat 3          # median of 3 runs each (noisy machines)

Results: bench/results/seed.json. Uses MERGEPOINT_DATABASE_URL's server or the embedded one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from bench.common import report
from schema import db, migrations, urls
from schema.errors import one_line
from schema.seed import (
    IDENTITY_TABLES,
    TABLES,
    Plan,
    advance_sequences,
    begin_bulk_load,
    copy_sql,
    customer_chunks,
    end_bulk_load,
    make_catalog,
    new_tally,
    order_batches,
    product_rows,
    restock_amounts,
    restock_rows,
    seed_shop,
    start_of_today,
)
from schema.tables import SHOP


def shop_table(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SHOP), sql.Identifier(name))


@dataclass
class Rows:
    """Pre-generated COPY text per table, in the order a plain COPY needs (FKs on)."""

    data: dict[str, list[bytes]]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def generate(plan: Plan) -> Rows:
    catalog = make_catalog(plan)
    tally = new_tally(plan)
    data: dict[str, list[bytes]] = {t: [] for t in TABLES}
    counts = dict.fromkeys(TABLES, 0)
    for text, rows in customer_chunks(plan):
        data["customers"].append(text.encode())
        counts["customers"] += rows
    sales: list[bytes] = []
    for batch in order_batches(plan, catalog, tally):
        data["orders"].append(batch.orders)
        data["order_lines"].append(batch.lines)
        sales.append(batch.movements)
        counts["orders"] += batch.order_count
        counts["order_lines"] += batch.line_count
    amounts = restock_amounts(plan, tally)
    data["products"].append(product_rows(plan, catalog, amounts, tally).encode())
    counts["products"] = plan.products
    data["stock_movements"] = [restock_rows(plan, catalog, amounts).encode(), *sales]
    counts["stock_movements"] = tally.movements
    return Rows(data, counts)


@contextmanager
def fresh_database(owner: str, label: str) -> Iterator[str]:
    """A new database migrated to head, dropped afterwards (plain DROP: it also stops an
    autovacuum worker, which DROP ... WITH (FORCE) may not terminate as a non-superuser)."""
    name = f"bench_seed_{label}_{secrets.token_hex(3)}"
    db.create_database(owner, name)
    try:
        url = urls.with_dbname(owner, name)
        migrations.upgrade(url)
        yield url
    finally:
        db.drop_database(owner, name)


def plain_copy(url: str, rows: Rows, *, bulk: bool) -> float:
    """COPY the rows as they are; with ``bulk``, around the seed's bulk-load steps."""
    with db.connect(url) as conn:
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT set_config('search_path', 'pg_catalog, pg_temp', true)")
            if bulk:
                cur.execute("SELECT set_config('maintenance_work_mem', '256MB', true)")
                cur.execute("SELECT set_config('work_mem', '64MB', true)")
                load = begin_bulk_load(cur)
            else:
                for table in TABLES:
                    cur.execute(
                        sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(shop_table(table))
                    )
            for table in TABLES:
                with cur.copy(copy_sql(table)) as copy:
                    for block in rows.data[table]:
                        copy.write(block)
            if bulk:
                end_bulk_load(cur, load, lambda phase, done, total: None)
            else:
                for table in TABLES:
                    cur.execute(
                        sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(shop_table(table))
                    )
            advance_sequences(cur, {t: rows.counts[t] for t in IDENTITY_TABLES if rows.counts[t]})
        return time.perf_counter() - start


def run_seed(url: str, plan: Plan, anchor: Any) -> tuple[float, int]:
    with db.connect(url) as conn:
        start = time.perf_counter()
        result = seed_shop(
            conn,
            customers=plan.customers,
            products=plan.products,
            orders=plan.orders,
            seed=plan.seed,
            now=anchor,
        )
        return time.perf_counter() - start, result.rows


def loaded_counts(url: str) -> dict[str, int]:
    with db.connect(url) as conn:
        return {
            t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(shop_table(t))).fetchone()[0]  # type: ignore[index]
            for t in TABLES
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000, help="orders (default 200000)")
    parser.add_argument("--customers", type=int, help="customers (default orders/10, min 100)")
    parser.add_argument("--products", type=int, default=5_000, help="products (default 5000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; median reported")
    args = parser.parse_args(argv)
    customers = args.customers if args.customers is not None else max(100, args.orders // 10)
    anchor = start_of_today()
    plan = Plan(customers, args.products, args.orders, seed=args.seed, now=int(anchor.timestamp()))
    owner = db.owner_url()
    load_before = os.getloadavg()

    started = time.perf_counter()
    rows = generate(plan)
    generate_s = time.perf_counter() - started

    runs: dict[str, list[float]] = {"copy": [], "copy+bulk": [], "seed": []}
    for _ in range(args.repeat):
        for label, bulk in (("copy", False), ("copy+bulk", True)):
            with fresh_database(owner, label.replace("+", "_")) as url:
                runs[label].append(plain_copy(url, rows, bulk=bulk))
                assert loaded_counts(url) == rows.counts, f"{label} loaded other rows"
        with fresh_database(owner, "seed") as url:
            seconds, seeded = run_seed(url, plan, anchor)
            runs["seed"].append(seconds)
            assert seeded == rows.total and loaded_counts(url) == rows.counts, "seed differs"

    seconds = {label: statistics.median(times) for label, times in runs.items()}
    rate = {label: rows.total / s for label, s in seconds.items()}
    ratio = rate["seed"] / rate["copy"]
    table_rows = [
        [
            label,
            f"{seconds[label]:.2f}",
            f"{rows.total:,}",
            f"{rate[label]:,.0f}",
            f"{rate[label] / rate['copy']:.2f}",
        ]
        for label in runs
    ]
    table_rows.append(
        [
            "generate only (Python)",
            f"{generate_s:.2f}",
            f"{rows.total:,}",
            f"{rows.total / generate_s:,.0f}",
            "-",
        ]
    )
    path = report(
        "seed",
        f"mergepoint seed: {plan.orders:,} orders, {plan.customers:,} customers, "
        f"{plan.products:,} products ({rows.total:,} rows)",
        ["method", "seconds", "rows", "rows/s", "vs copy"],
        table_rows,
        {
            "sizes": {
                "orders": plan.orders,
                "customers": plan.customers,
                "products": plan.products,
                "seed": plan.seed,
            },
            "rows": rows.counts | {"total": rows.total},
            "runs_seconds": runs,
            "median_seconds": {k: round(v, 3) for k, v in seconds.items()},
            "rows_per_s": {k: round(v) for k, v in rate.items()},
            "generate_seconds": round(generate_s, 3),
            "ratio_seed_vs_copy": round(ratio, 3),
            "ratio_seed_vs_copy_bulk": round(rate["seed"] / rate["copy+bulk"], 3),
            "load_average": {"before": load_before, "after": os.getloadavg()},
            "postgres": _server_version(owner),
        },
    )
    print(f"seed / plain COPY = {ratio:.2f} (aim >= 0.7); results in {path}")


def _server_version(owner: str) -> str:
    with db.connect(owner) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


if __name__ == "__main__":
    try:
        main()
    except psycopg.Error as exc:  # a benchmark, not a user command: say what failed
        raise SystemExit(f"bench.seed: {one_line(exc)}") from exc
