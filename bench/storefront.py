"""The storefront measured against PostgreSQL itself, with a load generator that does not
steal the CPU: wrk (C) drives the servers, pgbench (C) runs the same SQL, in one run.

A scratch database (migrated, roles ``bench_``) on a server of the benchmark's own (a
temporary embedded one with ``max_connections`` 300: every server's pools at once outgrow
the default 100), or on MERGEPOINT_DATABASE_URL's server when set; 200 products with
plenty of stock and 16 customers with API tokens. Then, one after another on that database:

* ``mergepoint up`` (its output on a pseudo-terminal, read as a terminal would: the relay's
  worst case), and the storefront command it runs, started directly (no relay);
* the candidate servers for the storefront: gunicorn gthread and sync, granian (WSGI), at
  worker and thread counts that fit 2 cores;
* the reference: a minimal Flask route running the catalogue's query through raw psycopg
  under granian (bench/reference.py);
* pgbench, with the statements the storefront sends: the catalogue's page, and the order's
  transaction (before and after its round trips were cut), at the same concurrency.

Each server gets ``GET /healthz`` (its floor: no database), ``GET /api/products`` and
``POST /api/orders`` (one line, a random product, a random customer's token: a Lua script)
from wrk, 16 connections for ``--seconds`` each. The table gives req/s, p50/p99 and
errors, and the ratios API/pgbench and API/floor; the JSON in bench/results/storefront.json
also checks the issue's targets.

    python -m bench.storefront --seconds 5 --before bench/results/storefront-before.json
                                                        # ~10 min: the final table
    python -m bench.storefront --seconds 5 --rounds 1 --servers up,granian-2x8
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import pgbench, wrk
from bench.common import (
    PREFIX,
    connect,
    report,
    scratch_database,
    start_own_server,
    wait_ok,
)
from bench.reference import PAGE_SQL
from schema import db, embedded, stack
from schema.ports import free_port
from schema.urls import to_libpq

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = 200
CUSTOMERS = 16
STOCK = 100_000_000
CONNECTIONS = 16  # wrk's connections and pgbench's clients: the same concurrency
STOREFRONT = "apps.flask_app:create_app()"
ADMIN_PASSWORD = "bench-bench-bench"


def token(i: int) -> str:
    """The bench's customers' tokens: known, so pgbench can compute their hashes."""
    return f"mp_bench_{i}"


def sku(i: int) -> str:
    return f"BENCH-{i:04d}"


# --- the statements, for pgbench ---------------------------------------------------------

# pgbench reads every :name as a variable, inside string literals too: the colons of the
# actor are chr(58). Each client picks a customer (c) and a product (p) per transaction.
TOKEN_HASH = "encode(sha256(convert_to(concat('mp_bench_', CAST(:c AS text)), 'UTF8')), 'hex')"
SKU = "concat('BENCH-', lpad(CAST(:p AS text), 4, '0'))"
ACTOR = "concat_ws(chr(58), 'storefront', 'customer', CAST(:cid AS text))"
PICK = f"\\set c random(0, {CUSTOMERS - 1})\n\\set p random(0, {PRODUCTS - 1})\n"

PGBENCH_PRODUCTS = f"{PAGE_SQL.replace('%s', '21')};\n"

# The order as the storefront sent it before this benchmark's issue: seven round trips
# (the pool's pre-ping, BEGIN, token, products with the actor, order, line, read-back,
# COMMIT; pgbench has no pre-ping).
PGBENCH_ORDER_ROUND_TRIPS = f"""{PICK}BEGIN;
SELECT customer_id AS cid, expires_at, expires_at <= now() AS expired
  FROM storefront.api_tokens WHERE token_hash = {TOKEN_HASH} \\gset
SELECT id AS pid, sku, name, price_cents, set_config('mergepoint.actor', {ACTOR}, true)
  FROM shop.products WHERE sku = ANY(ARRAY[{SKU}]) AND active \\gset
INSERT INTO shop.orders (customer_id, idempotency_key, request_hash)
  VALUES (:cid, NULL, NULL) RETURNING id AS oid \\gset
INSERT INTO shop.order_lines (order_id, product_id, quantity)
  VALUES (:oid, :pid, 1) RETURNING unit_price_cents;
SELECT id, status, total_cents, placed_at, updated_at FROM shop.orders WHERE id = :oid;
COMMIT;
"""


def seed(owner_url: str, storefront_url: str) -> None:
    """PRODUCTS products with STOCK units each; CUSTOMERS customers with known tokens."""
    with connect(owner_url, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, %s, %s)",
                [(sku(i), f"Bench product {i}", 100 + i) for i in range(PRODUCTS)],
            )
            cur.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                " SELECT id, %s, 'restock' FROM shop.products",
                [STOCK],
            )
    with connect(storefront_url) as conn:
        for i in range(CUSTOMERS):
            (cid,) = conn.execute(
                "INSERT INTO shop.customers (email, name) VALUES (%s, %s) RETURNING id",
                [f"bench{i}@example.com", f"Bench {i}"],
            ).fetchone()  # type: ignore[misc]
            conn.execute(
                "INSERT INTO storefront.api_tokens (customer_id, token_hash) VALUES (%s, %s)",
                [cid, hashlib.sha256(token(i).encode()).hexdigest()],
            )
        conn.commit()
    with connect(owner_url, autocommit=True) as conn:
        conn.execute("ANALYZE")


# --- the load ------------------------------------------------------------------------------


def order_lua() -> str:
    """wrk's request(): POST /api/orders, one line, a random product and customer."""
    tokens = ", ".join(f'"{token(i)}"' for i in range(CUSTOMERS))
    skus = ", ".join(f'"{sku(i)}"' for i in range(PRODUCTS))
    return f"""
local tokens = {{{tokens}}}
local skus = {{{skus}}}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
init = function(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end
request = function()
  local body = '{{"lines": [{{"sku": "' .. skus[math.random(#skus)] .. '", "quantity": 1}}]}}'
  return wrk.format("POST", "/api/orders", {{
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json"}}, body)
end
"""


ENDPOINTS: dict[str, tuple[str, str | None]] = {
    "healthz": ("/healthz", None),
    "products": ("/api/products", None),
    "orders": ("/api/orders", "orders"),
}


def measure(base: str, endpoint: str, seconds: float) -> wrk.Result:
    path, script = ENDPOINTS[endpoint]
    lua = order_lua() if script == "orders" else None
    wrk.run(f"{base}{path}", seconds=1, connections=CONNECTIONS, script=lua)  # warm up
    return wrk.run(f"{base}{path}", seconds=seconds, connections=CONNECTIONS, script=lua)


# --- the servers -----------------------------------------------------------------------------


def gunicorn(worker_class: str, workers: int, threads: int = 1) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--worker-class", worker_class,
                "--threads", str(threads), "--no-control-socket", "--log-level", "warning",
                STOREFRONT]  # fmt: skip

    return argv


def granian(workers: int, threads: int, target: str = STOREFRONT) -> Callable[[int], list[str]]:
    module, _, factory = target.removesuffix("()").partition(":")

    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers),
                "--blocking-threads", str(threads),
                "--log-level", "warning", "--factory", f"{module}:{factory}"]  # fmt: skip

    return argv


CANDIDATES: dict[str, Callable[[int], list[str]]] = {
    "gunicorn-gthread-2x4": gunicorn("gthread", 2, 4),
    "gunicorn-gthread-3x4": gunicorn("gthread", 3, 4),
    "gunicorn-gthread-2x8": gunicorn("gthread", 2, 8),
    "gunicorn-sync-3": gunicorn("sync", 3),
    "gunicorn-sync-5": gunicorn("sync", 5),
    "granian-2x4": granian(2, 4),
    "granian-2x8": granian(2, 8),
    "granian-2x1": granian(2, 1),
    "granian-4x1": granian(4, 1),
    "granian-3x2": granian(3, 2),
    "granian-4x4": granian(4, 4),
}
REFERENCE = granian(2, 8, "bench.reference:create_app()")
# What the final run measured (bench/results/storefront.json); the other candidates on
# request (--servers): on 2 cores they did no better.
DEFAULT_SERVERS = ("up", "up-direct", "reference", "gunicorn-gthread-2x4", "gunicorn-gthread-3x4",
                   "gunicorn-sync-3", "granian-2x4", "granian-2x8")  # fmt: skip



@contextmanager
def server(argv: list[str], env: dict[str, str], probe: str) -> Iterator[None]:
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_ok(probe, process=process)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def drain(fd: int) -> None:
    """Read a pseudo-terminal as a terminal would."""
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


@contextmanager
def mergepoint_up(owner_url: str, data_dir: Path) -> Iterator[tuple[int, list[str], dict]]:
    """`mergepoint up` on the bench's database; yields its storefront's port, the storefront
    command it runs and that command's environment (to start the same server directly)."""
    from schema.registry import app as app_named
    from schema.up import Options, app_spec, panel_env

    port, bo_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env |= {"MERGEPOINT_DATABASE_URL": owner_url, "MERGEPOINT_ROLE_PREFIX": PREFIX,
            "MERGEPOINT_DATA_DIR": str(data_dir),
            "MERGEPOINT_ADMIN_PASSWORD": ADMIN_PASSWORD}  # fmt: skip
    master, slave = pty.openpty()
    up = subprocess.Popen(
        [sys.executable, "-m", "schema.cli", "up", "--no-seed",
         "--storefront-port", str(port), "--backoffice-port", str(bo_port)],
        cwd=ROOT, env=env, stdout=slave, stderr=slave, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    threading.Thread(target=drain, args=(master,), daemon=True).start()
    try:
        wait_ok(f"http://127.0.0.1:{port}/readyz", timeout=180, process=up)
        options = Options(ports={"storefront": free_port(), "backoffice": bo_port})
        storefront = app_named("storefront")
        url = db.role_urls(owner_url, PREFIX)["storefront"]
        direct_env = stack.app_env("storefront", url, env)
        direct_env.update(panel_env(options)["storefront"])
        spec = app_spec(storefront, options, direct_env)
        yield port, list(spec.argv), direct_env | {"_port": str(options.port(storefront))}
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        os.close(master)


# --- the run -----------------------------------------------------------------------------------


def row(result: wrk.Result) -> dict[str, Any]:
    return {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "errors": result.errors,
        "non2xx": result.non2xx,
        "requests": result.requests,
    }


def pg_row(result: pgbench.Result) -> dict[str, Any]:
    return {"tps": round(result.tps, 1), "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
            "failed": result.failed}  # fmt: skip


@contextmanager
def database_server() -> Iterator[None]:
    """MERGEPOINT_DATABASE_URL's server when set, else one of this run's own (see above)."""
    if os.environ.get(db.ENV_URL):
        yield
        return
    directory = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    try:
        server = start_own_server(directory, 300)
        os.environ[db.ENV_URL] = server.owner_url
        try:
            yield
        finally:
            del os.environ[db.ENV_URL]
    finally:
        embedded.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per measurement (default 10)")
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help="comma-separated: up, up-direct, reference, " + ", ".join(CANDIDATES)
        + " (default: " + ",".join(DEFAULT_SERVERS) + ")",
    )
    parser.add_argument("--name", default="storefront", help="results file name (bench/results)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument(
        "--before",
        type=Path,
        help="an earlier run's results (bench/results/*.json): a before/after table of up",
    )
    parser.add_argument(
        "--endpoints", default=",".join(ENDPOINTS), help="comma-separated (default: all three)"
    )
    args = parser.parse_args(argv)
    # Stopped by a signal (also when started in the background, where SIGINT is ignored),
    # the servers and `mergepoint up` still stop and the scratch database is dropped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench.storefront: stopped"))
    wanted = args.servers.split(",")
    unknown = set(wanted) - {"up", "up-direct", "reference", *CANDIDATES}
    if unknown:
        parser.error(f"unknown servers: {sorted(unknown)}")
    if not wrk.available() or not pgbench.available():
        raise SystemExit("bench.storefront needs wrk and pgbench (apt-get install wrk "
                         "postgresql-client)")  # fmt: skip
    seconds = max(1, round(args.seconds))
    chosen = [e for e in ENDPOINTS if e in args.endpoints.split(",")]
    runs: dict[str, dict[str, list[wrk.Result]]] = {}
    baselines: dict[str, list[pgbench.Result]] = {"products": [], "orders": [],
                                                  "orders_round_trips": []}  # fmt: skip

    with (
        database_server(),
        scratch_database("storefront") as owner_url,
        tempfile.TemporaryDirectory() as tmp,
        ExitStack() as servers,
    ):
        storefront_url = db.role_urls(owner_url, PREFIX)["storefront"]
        migrate = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", "upgrade"],
            cwd=ROOT, env=stack.app_env("storefront", storefront_url), capture_output=True,
            text=True,
        )  # fmt: skip
        if migrate.returncode != 0:
            raise SystemExit(f"storefront db upgrade failed: {migrate.stderr.strip()}")
        seed(owner_url, storefront_url)
        scripts = {"products": PGBENCH_PRODUCTS, "orders": order_script(),
                   "orders_round_trips": PGBENCH_ORDER_ROUND_TRIPS}  # fmt: skip
        if scripts["orders_round_trips"] == scripts["orders"]:
            del scripts["orders_round_trips"]

        # Everything runs at once (idle until measured), `mergepoint up` and its event
        # consumers too, also while pgbench runs: the same machine for every figure.
        port, up_argv, up_env = servers.enter_context(mergepoint_up(owner_url, Path(tmp)))
        direct_port = int(up_env.pop("_port"))
        bases: dict[str, tuple[str, tuple[str, ...]]] = {}
        if "up" in wanted:
            bases["up"] = (f"http://127.0.0.1:{port}", tuple(ENDPOINTS))
        if "up-direct" in wanted:
            servers.enter_context(
                server(up_argv, up_env, f"http://127.0.0.1:{direct_port}/readyz")
            )
            bases["up-direct"] = (f"http://127.0.0.1:{direct_port}", tuple(ENDPOINTS))
        for name, make in CANDIDATES.items():
            if name in wanted:
                p = free_port()
                servers.enter_context(server(make(p), up_env, f"http://127.0.0.1:{p}/readyz"))
                bases[name] = (f"http://127.0.0.1:{p}", tuple(ENDPOINTS))
        if "reference" in wanted:
            p = free_port()
            servers.enter_context(server(REFERENCE(p), up_env, f"http://127.0.0.1:{p}/healthz"))
            bases["reference"] = (f"http://127.0.0.1:{p}", ("healthz", "products"))

        # Rounds, each endpoint's figures taken one after another (pgbench, then every
        # server): a shared machine's drift hits them all alike; the medians are reported.
        for round_ in range(1, args.rounds + 1):
            for endpoint in chosen:
                for name in [n for n in scripts if n.startswith(endpoint)]:
                    baselines[name].append(pgbench.run(
                        to_libpq(storefront_url), scripts[name], clients=CONNECTIONS,
                        seconds=seconds, protocol="prepared", latencies=True,
                    ))  # fmt: skip
                for name, (base, endpoints) in bases.items():
                    if endpoint in endpoints:
                        result = measure(base, endpoint, seconds)
                        runs.setdefault(name, {}).setdefault(endpoint, []).append(result)
            figures = "; ".join(
                f"{name} " + ", ".join(f"{e} {r[-1].rps:,.0f}" for e, r in per.items())
                for name, per in runs.items()
            )
            print(f"  round {round_}: {figures}", flush=True)
        servers.close()
        wait_for_disconnects(owner_url)

    results = {
        name: {e: row(median_of(rs)) for e, rs in per.items()} for name, per in runs.items()
    }
    pg = {name: pg_row(median_pg(rs)) for name, rs in baselines.items() if rs}
    write(args.name, args.seconds, args.rounds, results, pg, baselines, runs, args.before)


def median_of(results: list[wrk.Result]) -> wrk.Result:
    """The run with the median req/s (its latencies with it)."""
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def median_pg(results: list[pgbench.Result]) -> pgbench.Result:
    return sorted(results, key=lambda r: r.tps)[len(results) // 2]


def order_script() -> str:
    """The order as the storefront sends it: its own statement (apps/flask_app/shop.py),
    run on its own, with pgbench's values in place of its parameters (a checkout from
    before that statement existed sends the round trips)."""
    try:
        from apps.flask_app.shop import PLACE_ORDER_SQL
    except ImportError:
        return PGBENCH_ORDER_ROUND_TRIPS
    values = {
        ":token_hash": TOKEN_HASH,
        "CAST(:skus AS text[])": f"ARRAY[{SKU}]",
        "CAST(:quantities AS integer[])": "ARRAY[1]",
        ":idempotency_key": "CAST(NULL AS text)",
        ":request_hash": "CAST(NULL AS text)",
        "'storefront:customer:'": "concat_ws(chr(58), 'storefront', 'customer', '')",
    }
    script = PLACE_ORDER_SQL.strip()
    for parameter, value in values.items():
        if parameter not in script:
            raise SystemExit(f"bench.storefront: the order statement has no {parameter}")
        script = script.replace(parameter, value)
    return f"{PICK}{script};\n"


def wait_for_disconnects(owner_url: str, timeout: float = 15) -> None:
    """Until the app roles' backends have exited: the owner may not terminate them, so the
    scratch database's DROP ... WITH (FORCE) would fail while one lingers."""
    deadline = time.monotonic() + timeout
    with connect(owner_url, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def write(
    name: str,
    seconds: float,
    rounds: int,
    results: dict[str, dict[str, Any]],
    pg: dict[str, dict[str, Any]],
    baselines: dict[str, list[pgbench.Result]],
    runs: dict[str, dict[str, list[wrk.Result]]],
    before_path: Path | None = None,
) -> None:
    before = json.loads(before_path.read_text()) if before_path else None
    rows: list[list[Any]] = []
    for endpoint, label in (
        ("products", "SELECT page (21 rows)"),
        ("orders", "the order, as the app sends it"),
        ("orders_round_trips", "the order in 7 round trips (before)"),
    ):
        if endpoint in pg:
            b = pg[endpoint]
            rows.append([f"pgbench: {label}", "", f"{b['tps']:,.0f}", f"{b['p50_ms']:.2f}",
                         f"{b['p99_ms']:.2f}", b["failed"], "", ""])  # fmt: skip
    for server_name, per in results.items():
        floor = per.get("healthz", {}).get("rps")
        for endpoint, r in per.items():
            base = pg.get(endpoint, {}).get("tps")
            vs_pg = f"{r['rps'] / base:.3f}" if base else ""
            vs_floor = f"{r['rps'] / floor:.2f}" if floor and endpoint != "healthz" else ""
            rows.append([server_name, endpoint, f"{r['rps']:,.0f}", f"{r['p50_ms']:.2f}",
                         f"{r['p99_ms']:.2f}", r["errors"], vs_pg, vs_floor])  # fmt: skip
    targets = check_targets(results, pg)
    path = report(
        name,
        f"storefront: wrk {CONNECTIONS} connections, pgbench {CONNECTIONS} clients,"
        f" {seconds:g} s each, median of {rounds} round(s)",
        ["server", "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "API/pgbench", "API/floor"],
        rows,
        {
            "seconds": seconds,
            "rounds": rounds,
            "connections": CONNECTIONS,
            "servers": results,
            "pgbench": pg,
            "runs": {
                "pgbench": {k: [round(r.tps, 1) for r in v] for k, v in baselines.items()},
                **{n: {e: [round(r.rps, 1) for r in rs] for e, rs in per.items()}
                   for n, per in runs.items()},
            },  # fmt: skip
            "targets": targets,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
            **({"before": compare(before, results, pg, targets)} if before else {}),
        },
    )
    for target in targets.values():
        print(f"  {'reached' if target['reached'] else 'missed '}  {target['what']}:"
              f" {target['value']}")  # fmt: skip
    print(f"wrote {path.relative_to(ROOT)}")


def compare(
    before: dict[str, Any],
    results: dict[str, dict[str, Any]],
    pg: dict[str, dict[str, Any]],
    targets: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """`mergepoint up`'s figures and the targets, then (``before``, an earlier run's
    results) and now, printed as a table; returned for the results file."""
    then_up, now_up = before["servers"].get("up", {}), results.get("up", {})
    rows: list[list[Any]] = []
    for endpoint in ENDPOINTS:
        if endpoint in then_up and endpoint in now_up:
            a, b = then_up[endpoint], now_up[endpoint]
            rows.append([f"up {endpoint} req/s", f"{a['rps']:,.0f}", f"{b['rps']:,.0f}",
                         f"{b['rps'] / a['rps']:.2f}x"])  # fmt: skip
            rows.append([f"up {endpoint} p50 / p99 ms", f"{a['p50_ms']:.1f} / {a['p99_ms']:.1f}",
                         f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f}", ""])  # fmt: skip
    for name, target in targets.items():
        then = before.get("targets", {}).get(name, {}).get("value")
        rows.append([target["what"], json.dumps(then), json.dumps(target["value"]),
                     "reached" if target["reached"] else "missed"])  # fmt: skip
    Console(width=120).print(
        table_of(f"before ({before['date']}) and after", ["", "before", "after", ""], rows)
    )
    return {"date": before["date"], "servers": before["servers"],
            "pgbench": before.get("pgbench", {}), "targets": before.get("targets", {}),
            "table": rows}  # fmt: skip


def table_of(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column else "left")
    for row in rows:
        table.add_row(*[str(v) for v in row])
    return table


def check_targets(
    results: dict[str, dict[str, Any]], pg: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The issue's four targets, from this run's figures (those it could compute)."""
    out: dict[str, dict[str, Any]] = {}
    up = results.get("up")
    if up is None:
        return out
    if "orders" in pg and "orders" in up:
        ratio = up["orders"]["rps"] / pg["orders"]["tps"]
        out["orders_vs_pgbench"] = {"what": "POST /api/orders / pgbench same transaction >= 0.5",
                                    "value": round(ratio, 3), "reached": ratio >= 0.5}  # fmt: skip
    if "products" in up and "products" in results.get("reference", {}):
        ratio = up["products"]["rps"] / results["reference"]["products"]["rps"]
        out["products_vs_reference"] = {
            "what": "GET /api/products under up / reference (Flask + psycopg, granian) >= 0.7",
            "value": round(ratio, 3), "reached": ratio >= 0.7}  # fmt: skip
    if "orders" in up:
        p99, p50 = up["orders"]["p99_ms"], up["orders"]["p50_ms"]
        out["orders_p99_vs_p50"] = {"what": "orders p99 <= 4x p50 (under up)",
                                    "value": round(p99 / p50, 2) if p50 else None,
                                    "reached": bool(p50) and p99 <= 4 * p50}  # fmt: skip
    if "up-direct" in results:
        direct = results["up-direct"]
        ratios = {e: round(up[e]["rps"] / direct[e]["rps"], 3) for e in up if e in direct}
        out["up_vs_direct"] = {"what": "under up / the same server started directly >= 0.9",
                               "value": ratios, "reached": min(ratios.values()) >= 0.9}  # fmt: skip
    return out


if __name__ == "__main__":
    main()
