"""Orders through PgBouncer beside orders straight to PostgreSQL, at 16 and 200 clients, and
the read replica's lag under that load, in one run.

An embedded server of its own (a temporary data directory; ``max_connections`` raised to
300 so that 200 direct clients can connect at all), migrated, with products and
customers; PgBouncer in front of it (transaction mode, ``--pool-size`` 20, Debian's 1.18)
and a streaming replica. The load is pgbench (PostgreSQL's own, C: it takes no CPU from
the server it measures) running the storefront's order transaction as the storefront role:
product lookup setting the actor, INSERT order, INSERT line (the database takes the
stock), COMMIT. One transaction is one order.

* ``direct`` connects to the server's socket, with prepared statements as psycopg makes
  them directly (``-M prepared``); ``pgbouncer`` connects to the pooler without them
  (``-M extended``, as psycopg with ``prepare_threshold=None``); ``direct, unprepared`` is
  the same as direct without them: the cost of turning them off.
* p50/p99 from pgbench's per-transaction log; "server connections" is the most the
  storefront role held at once (pg_stat_activity, sampled every 10 ms).
* Replica lag during the 200-client pooled run: bytes of WAL written but not yet replayed,
  and how long until the WAL position of a moment is replayed on the replica (a commit
  made then is visible there), sampled every 25 ms.

    python -m bench.pooler                 # ~1.5 min
    python -m bench.pooler --seconds 20
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.common import report, start_own_server
from schema import embedded, migrations, pooler, replica, roles
from schema.ports import free_port
from schema.urls import to_libpq, url_params, with_user

PRODUCTS = 200
CUSTOMERS = 1000
STOCK = 10_000_000
POOL_SIZE = 20
JOBS = 4  # pgbench's threads: each serves clients/JOBS connections
# pgbench turns every :name into a parameter, inside string literals too: the actor
# ('storefront:customer:<id>', as the app sets it) is joined from colon-free parts.
ORDER = r"""
\set pid random(1, {products})
\set cid random(1, {customers})
BEGIN;
SELECT id, price_cents,
       set_config('mergepoint.actor',
                  concat_ws(chr(58), 'storefront', 'customer', CAST(:cid AS text)), true)
  FROM shop.products WHERE id = :pid AND active;
INSERT INTO shop.orders (customer_id) VALUES (:cid) RETURNING id AS oid \gset
INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (:oid, :pid, 1);
COMMIT;
"""


@dataclass
class Run:
    label: str
    clients: int
    orders: int
    orders_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int
    server_connections: int
    connect_ms: float  # pgbench's initial connection time: all its clients logging in


def setup(directory: Path) -> embedded.Embedded:
    """The server (max_connections 300), migrated, with products and customers."""
    server = start_own_server(directory, 300)
    owner = server.owner_url
    migrations.upgrade(owner)
    roles.reconcile(owner, "")
    with psycopg.connect(to_libpq(owner), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, %s, %s)",
                [(f"BENCH-{i:04d}", f"Bench product {i}", 100 + i) for i in range(PRODUCTS)],
            )
            cur.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                " SELECT id, %s, 'restock' FROM shop.products",
                [STOCK],
            )
            cur.executemany(
                "INSERT INTO shop.customers (email, name) VALUES (%s, %s)",
                [(f"bench{i}@example.com", f"Bench {i}") for i in range(CUSTOMERS)],
            )
        conn.execute("ANALYZE")
    return server


def sample_connections(owner: str, role: str, stop: threading.Event, seen: list[int]) -> None:
    with psycopg.connect(to_libpq(owner), autocommit=True) as conn:
        while not stop.is_set():
            seen.append(
                conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role]
                ).fetchone()[0]  # type: ignore[index]
            )
            time.sleep(0.01)


def sample_lag(owner: str, replica_url: str, stop: threading.Event, out: dict[str, list]) -> None:
    """Bytes behind, and how long until the primary's WAL position of a moment is replayed."""
    with (
        psycopg.connect(to_libpq(owner), autocommit=True) as primary,
        psycopg.connect(to_libpq(replica_url), autocommit=True) as standby,
    ):
        while not stop.is_set():
            start = time.perf_counter()
            target = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]
            replayed = standby.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()[0]  # type: ignore[index]
            out["bytes"].append(max(0, replica.lsn(target) - replica.lsn(replayed)))
            while replica.lsn(replayed) < replica.lsn(target):
                time.sleep(0.001)  # a poll a millisecond: the watcher must not load the box
                replayed = standby.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()[0]  # type: ignore[index]
            out["visible_ms"].append((time.perf_counter() - start) * 1000)
            time.sleep(0.025)


def pgbench(
    label: str,
    clients: int,
    seconds: float,
    conninfo: dict[str, str],
    mode: str,
    owner: str,
    script: Path,
    logs: Path,
    env: dict[str, str],
) -> Run:
    prefix = logs / re.sub(r"\W+", "_", label)
    argv = [
        str(replica.binary("pgbench")), "--no-vacuum",
        "--client", str(clients), "--jobs", str(JOBS), "--time", str(max(1, round(seconds))),
        "--protocol", mode, "--file", str(script),
        "--log", "--log-prefix", str(prefix),
        "--host", conninfo["host"], "--port", conninfo.get("port", "5432"),
        "--username", conninfo["user"], conninfo["dbname"],
    ]  # fmt: skip
    seen: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(
        target=sample_connections, args=(owner, conninfo["user"], stop, seen)
    )
    sampler.start()
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=seconds + 120
        )
    finally:
        stop.set()
        sampler.join()
    out = result.stdout + result.stderr
    if result.returncode != 0 and "number of transactions actually processed" not in out:
        raise SystemExit(f"bench.pooler: pgbench failed ({label}):\n{out}")
    latencies: list[float] = []
    for path in logs.glob(f"{prefix.name}.*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
        path.unlink()
    found = re.search(r"tps = ([\d.]+) \(without initial", out)
    if found is None:
        raise SystemExit(f"bench.pooler: no result from pgbench ({label}):\n{out}")
    tps = float(found.group(1))
    failed_match = re.search(r"number of failed transactions: (\d+)", out)
    connect = re.search(r"initial connection time = ([\d.]+) ms", out)
    ordered = sorted(latencies)
    return Run(
        label=label,
        clients=clients,
        orders=len(latencies),
        orders_per_s=round(tps, 1),
        p50_ms=round(statistics.median(ordered), 2),
        p99_ms=round(ordered[int(len(ordered) * 0.99)], 2),
        failed=int(failed_match.group(1)) if failed_match else 0,
        server_connections=max(seen, default=0),
        connect_ms=round(float(connect.group(1)), 1) if connect else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    if args.seconds < 6:  # 200 clients logging in with SCRAM take a few seconds of it
        parser.error("--seconds must be at least 6")
    if shutil.which(pooler.EXECUTABLE) is None:
        raise SystemExit("bench.pooler: pgbouncer is not installed (apt-get install pgbouncer)")

    directory = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    logs = directory / "logs"
    logs.mkdir()
    os.chmod(directory, 0o755)
    try:
        server = setup(directory)
        owner = server.owner_url
        config = pooler.config_for(
            owner, directory, ["storefront", "backoffice"], port=free_port(), pool_size=POOL_SIZE
        )
        credentials = pooler.app_credentials(owner, directory, config.users)
        pooler.start(config, credentials)
        replica.start(directory, server)
        script = directory / "order.sql"
        script.write_text(ORDER.format(products=PRODUCTS, customers=CUSTOMERS))
        direct = url_params(with_user(owner, "storefront"))
        pooled = {
            "host": config.client_host,
            "port": str(config.port),
            "user": "storefront",
            "dbname": direct["dbname"],
        }
        env = {**os.environ, "PGPASSWORD": credentials["storefront"]}

        def run(label: str, clients: int, conninfo: dict[str, str], mode: str) -> Run:
            return pgbench(label, clients, args.seconds, conninfo, mode, owner, script, logs, env)

        run("warm-up", 16, direct, "prepared")
        # Direct runs first: their connections end with them, where the pooler keeps its
        # idle server connections (which the count of server connections would include).
        runs = [
            run("direct", 16, direct, "prepared"),
            run("direct, unprepared", 16, direct, "extended"),
            run("direct", 200, direct, "prepared"),
            run("pgbouncer", 16, pooled, "extended"),
            run("pgbouncer", 200, pooled, "extended"),
        ]
        # The replica's lag under the same load, in a run of its own (watching costs CPU).
        lag: dict[str, list] = {"bytes": [], "visible_ms": []}
        stop = threading.Event()
        watcher = threading.Thread(
            target=sample_lag,
            args=(owner, replica.role_url(directory, "mergepoint", "mergepoint"), stop, lag),
        )
        watcher.start()
        try:
            watched = run("pgbouncer, replica watched", 200, pooled, "extended")
        finally:
            stop.set()
            watcher.join()
    finally:
        pooler.stop(directory / pooler.DIRNAME)
        replica.stop(directory)
        embedded.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0

    by = {(r.label, r.clients): r for r in runs}
    pooled_200_over_direct_16 = (
        by[("pgbouncer", 200)].orders_per_s / by[("direct", 16)].orders_per_s
    )
    like_for_like = (
        by[("pgbouncer", 200)].orders_per_s / by[("direct, unprepared", 16)].orders_per_s
    )
    unprepared_cost = (
        1 - by[("direct, unprepared", 16)].orders_per_s / by[("direct", 16)].orders_per_s
    )
    rows: list[list[Any]] = [
        [r.label, r.clients, r.server_connections, f"{r.orders_per_s:,.0f}", r.p50_ms, r.p99_ms,
         r.failed, f"{r.connect_ms:,.0f}"]
        for r in runs
    ]  # fmt: skip
    rows.append(
        ["pgbouncer@200 / direct@16", "", "", f"{pooled_200_over_direct_16:.2f}", "", "", "", ""]
    )
    rows.append(["… / direct unprepared@16", "", "", f"{like_for_like:.2f}", "", "", "", ""])
    lag_row = {
        "bytes_p50": int(pct(lag["bytes"], 0.5)),
        "bytes_p99": int(pct(lag["bytes"], 0.99)),
        "bytes_max": int(max(lag["bytes"], default=0)),
        "visible_ms_p50": round(pct(lag["visible_ms"], 0.5), 2),
        "visible_ms_p99": round(pct(lag["visible_ms"], 0.99), 2),
        "visible_ms_max": round(max(lag["visible_ms"], default=0.0), 2),
        "samples": len(lag["bytes"]),
    }
    rows.append([
        f"replica lag at {watched.orders_per_s:,.0f}/s", "", "",
        f"{lag_row['bytes_p50']:,}/{lag_row['bytes_p99']:,} B",
        lag_row["visible_ms_p50"], lag_row["visible_ms_p99"], "", "",
    ])  # fmt: skip
    report(
        "pooler",
        f"Orders (pgbench, the storefront's order transaction), {args.seconds:.0f}s each;"
        f" PgBouncer {config.version[0]}.{config.version[1]}, pool size {POOL_SIZE}",
        ["path", "clients", "server conns", "orders/s", "p50 ms", "p99 ms", "failed", "login ms"],
        rows,
        {
            "seconds": args.seconds,
            "pool_size": POOL_SIZE,
            "pgbouncer": list(config.version),
            "runs": [r.__dict__ for r in runs],
            "ratio_pooled_200_over_direct_16": round(pooled_200_over_direct_16, 3),
            "ratio_pooled_200_over_direct_unprepared_16": round(like_for_like, 3),
            "cost_of_unprepared": round(unprepared_cost, 3),
            "replica_lag": {**lag_row, "under_orders_per_s": watched.orders_per_s},
        },
    )


if __name__ == "__main__":
    main()
