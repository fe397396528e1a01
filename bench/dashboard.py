"""The admin index's dashboard at 1 thousand and 1 million orders, and the sales rollup's
cost on order placement, each beside its baseline in the same run.

1. **Render.** Two shops (bench.backoffice's machinery: seeded with ``schema.seed``,
   ANALYZEd, the back office under gunicorn, one worker, DEBUG off), each with its daily
   sales rollup built (``manage.py rebuild_sales``, timed). A logged-in superuser times
   ``GET /admin/`` (the dashboard: 30 days of sales, the funnel, low stock; the staff feed;
   the app list), alternating between the shops so both see the same load. Aim: large/small
   <= 1.5. Beside it, as the back office's role: the 30 days read from the rollup, and the
   same 30 days counted from ``shop.orders`` (what the reports do).
2. **Placement.** Orders placed with pgbench (an order and one line, as the storefront, 8
   clients) while the back office's consumer runs its feed only (the baseline) and its
   feed and the sales rollup (``manage.py consume_events`` as in production), in alternating
   rounds; the ratio of the medians (aim >= 0.95), with no consumer at all for reference.
   Afterwards the rollup must equal ``sales_by_day`` for the day, or the run fails. On a
   shared machine throughput swings with the neighbours' load, so the consumer's own CPU
   time (its process and its database backend) per 1,000 orders is measured too: what
   the rollup adds is the difference between the two consumer modes.

    python -m bench.dashboard                    # 1k vs 1M orders (seeding 1M: ~1 min)
    python -m bench.dashboard --large 100000 --seconds 3 --rounds 2    # quicker
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import psutil
import psycopg

from bench import pgbench
from bench.backoffice import app_env, interleaved, shop
from bench.common import PREFIX, connect, report, scratch_database
from bench.events import ORDER
from bench.events import prepare as prepare_placement
from schema import consumers, db, events, reports

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "apps" / "django_app" / "manage.py")]

# The dashboard's read (its selector's query, written out) and the reports' way.
ROLLUP_SQL = """
SELECT day, status, orders, units, value_cents FROM backoffice.sales_rollup
 WHERE day BETWEEN %(first)s AND %(last)s
"""
ORDERS_SQL = """
SELECT (o.placed_at AT TIME ZONE 'UTC')::date AS day, o.status, count(*),
       sum(o.total_cents), sum(l.units)
  FROM shop.orders o
  LEFT JOIN LATERAL (SELECT sum(quantity) AS units FROM shop.order_lines
                      WHERE order_id = o.id) l ON true
 WHERE o.placed_at >= %(first)s::timestamp AT TIME ZONE 'UTC'
   AND o.placed_at < (%(last)s::date + 1)::timestamp AT TIME ZONE 'UTC'
 GROUP BY 1, 2
"""


def rebuild(url: str) -> float:
    """``manage.py rebuild_sales`` on the shop; the rebuild's own seconds, as it says."""
    done = subprocess.run(
        [*MANAGE, "rebuild_sales"], env=app_env(url), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"rebuild_sales failed: {done.stderr.strip()}")
    print(done.stdout.strip(), flush=True)
    said = re.search(r" in ([0-9.]+) s$", done.stdout.strip())
    if said is None:
        raise SystemExit(f"rebuild_sales said: {done.stdout.strip()}")
    return float(said.group(1))


def get_index(client: httpx.Client) -> float:
    start = time.perf_counter()
    response = client.get("/admin/")
    elapsed = time.perf_counter() - start
    if response.status_code != 200 or 'id="sales-by-day"' not in response.text:
        raise SystemExit(f"/admin/: HTTP {response.status_code}, or no dashboard on it")
    return elapsed


def query(conn: psycopg.Connection, statement: str) -> float:
    today = datetime.now(UTC).date()
    params = {"first": today - timedelta(days=29), "last": today}
    start = time.perf_counter()
    conn.execute(statement, params).fetchall()
    return time.perf_counter() - start


def render(small_size: int, large_size: int, n: int, workdir: Path) -> dict[str, dict]:
    with (
        shop("small", small_size, workdir) as small,
        shop("large", large_size, workdir) as large,
    ):
        shops = {"small": small, "large": large}
        results: dict[str, dict] = {
            label: {"orders": s["orders"], "seed_seconds": s["seed_seconds"]}
            for label, s in shops.items()
        }
        for label, s in shops.items():
            results[label]["rebuild_seconds"] = round(rebuild(s["url"]), 2)
        timed = {
            "index": interleaved({k: partial(get_index, s["client"]) for k, s in shops.items()}, n),
            "rollup": interleaved(
                {k: partial(query, s["raw"], ROLLUP_SQL) for k, s in shops.items()}, n
            ),
            "orders": interleaved(
                {k: partial(query, s["raw"], ORDERS_SQL) for k, s in shops.items()}, min(n, 10)
            ),
        }
        for what, by_shop in timed.items():
            for label in shops:
                results[label][what] = by_shop[label]
    return results


# --- the rollup's cost on order placement ------------------------------------------------


@contextmanager
def consumer(url: str, *subscriptions: str) -> Iterator[list[psutil.Process]]:
    """``manage.py consume_events`` (these subscriptions) until the block ends; yields the
    process and its database backend, whose CPU time is the consumer's cost."""
    argv = [*MANAGE, "consume_events"]
    for name in subscriptions:
        argv += ["--subscription", name]
    process = subprocess.Popen(
        argv, env=app_env(url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "events: consuming" in line:
                break
        else:
            raise SystemExit(f"consume_events exited: {process.wait()}")
        with connect(url, autocommit=True) as conn:
            backends = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'backoffice-events'"
                    " AND datname = current_database()"
                ).fetchall()
            ]
        yield [psutil.Process(process.pid), *(psutil.Process(pid) for pid in backends)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def behind(url: str, consumer_name: str) -> int:
    with connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM events.outbox o, events.subscriptions s"
            " WHERE s.consumer = %s AND o.topic = ANY (s.topics)"
            " AND (o.txid, o.id) > (s.cursor_txid, s.cursor_id)",
            [consumer_name],
        ).fetchone()[0]


def caught_up(url: str) -> None:
    """Run the consumer until neither of the back office's subscriptions is behind."""
    names = ("backoffice-feed", "backoffice-sales")
    if not any(behind(url, name) for name in names):
        return
    with consumer(url, *names):
        while any(behind(url, name) for name in names):
            time.sleep(0.05)


def prepare_consumers(url: str) -> None:
    """The storefront's and the back office's own tables, and the apps' subscriptions."""
    prepare_placement(url)  # the storefront's migrations, 50 products, a customer
    subprocess.run([*MANAGE, "migrate", "--noinput"], env=app_env(url), check=True,
                   capture_output=True)  # fmt: skip
    descriptions, failures = consumers.describe_all()
    if failures:
        raise SystemExit(f"an app could not describe itself: {failures[0]}")
    events.reconcile(url, PREFIX, descriptions)


def placement(url: str, seconds: int, rounds: int) -> dict[str, object]:
    storefront = db.role_urls(url, PREFIX)["storefront"]
    modes = {
        "no consumer": (),
        "feed only": ("backoffice-feed",),
        "feed and sales": ("backoffice-feed", "backoffice-sales"),
    }
    tps: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes if modes[mode]}
    lag: list[int] = []
    catch_up: list[float] = []
    order = list(modes)
    for round_number in range(rounds):
        # Each round in another order, so no mode always runs on a warmer (or busier) box.
        turn = order[round_number % len(order) :] + order[: round_number % len(order)]
        for mode in turn:
            subscriptions = modes[mode]
            caught_up(url)  # each round starts with nothing left to consume
            if not subscriptions:
                tps[mode].append(pgbench.run(storefront, ORDER, clients=8, seconds=seconds).tps)
                continue
            with consumer(url, *subscriptions) as watched:
                before = cpu_seconds(watched)
                placed = pgbench.run(storefront, ORDER, clients=8, seconds=seconds)
                tps[mode].append(placed.tps)
                if "backoffice-sales" in subscriptions:
                    lag.append(behind(url, "backoffice-sales"))
                started = time.perf_counter()
                while any(behind(url, name) for name in subscriptions):
                    time.sleep(0.01)  # the work for these orders, all of it
                if "backoffice-sales" in subscriptions:
                    catch_up.append(time.perf_counter() - started)
                spent = cpu_seconds(watched) - before
                cpu[mode].append(spent * 1000 / placed.transactions * 1000)
    caught_up(url)
    verify(url)
    medians = {mode: statistics.median(values) for mode, values in tps.items()}
    # On a shared machine the load moves between rounds: each round's own ratio too.
    paired = [s / f for s, f in zip(tps["feed and sales"], tps["feed only"], strict=True)]
    cpu_medians = {mode: round(statistics.median(v), 1) for mode, v in cpu.items()}
    return {
        "consumer_cpu_ms_per_1000_orders": cpu_medians,
        "rollup_cpu_ms_per_1000_orders": round(
            cpu_medians["feed and sales"] - cpu_medians["feed only"], 1
        ),
        "consumer_cpu_rounds": {mode: [round(x, 1) for x in v] for mode, v in cpu.items()},
        "orders_per_s": medians,
        "rounds": tps,
        "ratio_sales_over_feed": round(medians["feed and sales"] / medians["feed only"], 3),
        "ratio_sales_over_feed_per_round": [round(r, 3) for r in paired],
        "ratio_sales_over_feed_paired_median": round(statistics.median(paired), 3),
        "ratio_sales_over_none": round(medians["feed and sales"] / medians["no consumer"], 3),
        "events_behind_at_end": lag,
        "catch_up_seconds": [round(c, 3) for c in catch_up],
    }


def verify(url: str) -> None:
    """The rollup after all that equals the report (a benchmark of a wrong rollup is none)."""
    today = datetime.now(UTC).date()
    with connect(db.role_urls(url, PREFIX)["reporting"]) as conn:
        counted = reports.run(reports.find("sales_by_day"), conn, {"date_from": today}).rows
    with connect(db.role_urls(url, PREFIX)["backoffice"]) as conn:
        rows = conn.execute(
            "SELECT sum(orders) FILTER (WHERE status <> 'cancelled'),"
            " sum(value_cents) FILTER (WHERE status <> 'cancelled')"
            " FROM backoffice.sales_rollup WHERE day = %s",
            [today],
        ).fetchone()
    if (counted[0][1], counted[0][3]) != (rows[0], rows[1]):
        raise SystemExit(f"the rollup says {rows}, the report {counted[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="orders in the small shop")
    parser.add_argument("--large", type=int, default=1_000_000, help="orders in the large shop")
    parser.add_argument("-n", type=int, default=30, help="timed requests of the index")
    parser.add_argument("--seconds", type=int, default=6, help="pgbench seconds per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each placement mode")

    args = parser.parse_args()
    if not pgbench.available():
        raise SystemExit("pgbench is not installed: apt-get install postgresql-client")

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        shown = render(args.small, args.large, args.n, Path(tmp))
    with scratch_database("dashboard") as url:
        prepare_consumers(url)
        placed = placement(url, args.seconds, args.rounds)
    small, large = shown["small"], shown["large"]

    def ratio(what: str) -> float:
        return round(large[what]["p50_ms"] / small[what]["p50_ms"], 2)

    rows = [
        [
            label,
            small[what]["p50_ms"],
            small[what]["p95_ms"],
            large[what]["p50_ms"],
            large[what]["p95_ms"],
            ratio(what),
        ]
        for label, what in (
            ("GET /admin/ (the dashboard)", "index"),
            ("30 days from the rollup (SQL)", "rollup"),
            ("30 days from shop.orders (SQL)", "orders"),
        )
    ]
    rows.append([
        "rebuild the rollup (manage.py rebuild_sales, s)",
        small["rebuild_seconds"], "", large["rebuild_seconds"], "", "",
    ])  # fmt: skip
    tps = placed["orders_per_s"]
    assert isinstance(tps, dict)
    for mode in ("no consumer", "feed only", "feed and sales"):
        rows.append([f"orders/s, {mode} (pgbench, 8 clients)", "", "", f"{tps[mode]:,.0f}", "", ""])
    rows.append([
        "  ratio feed and sales / feed only, of the medians (aim >= 0.95)", "", "", "", "",
        placed["ratio_sales_over_feed"],
    ])  # fmt: skip
    rows.append([
        "  the same, median of each round's ratio", "", "", "", "",
        placed["ratio_sales_over_feed_paired_median"],
    ])  # fmt: skip
    spent = placed["consumer_cpu_ms_per_1000_orders"]
    assert isinstance(spent, dict)
    for mode in ("feed only", "feed and sales"):
        rows.append([
            f"consumer CPU ms per 1,000 orders, {mode} (process + backend)", "", "",
            spent[mode], "", "",
        ])  # fmt: skip
    rows.append([
        "  of which the sales rollup", "", "", placed["rollup_cpu_ms_per_1000_orders"], "", "",
    ])  # fmt: skip
    columns = [
        "what",
        f"p50 ms @ {args.small:,}",
        f"p95 ms @ {args.small:,}",
        f"p50 ms @ {args.large:,}",
        f"p95 ms @ {args.large:,}",
        "large/small (p50)",
    ]
    path = report(
        "dashboard",
        f"The dashboard: {args.small:,} vs {args.large:,} orders; the rollup's cost on placement",
        columns,
        rows,
        {
            "small": small,
            "large": large,
            "ratio_index_p50": ratio("index"),
            "ratio_rollup_p50": ratio("rollup"),
            "placement": placed,
            "aim": "index large/small <= 1.5; placement with the rollup / without >= 0.95",
            "seconds": args.seconds,
            "rounds": args.rounds,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
