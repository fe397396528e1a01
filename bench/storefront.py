"""The storefront under gunicorn beside the same SQL through raw psycopg, in one run.

A scratch database (migrated, roles ``bench_``, the storefront's own ``db upgrade`` run
as the storefront role), seeded with products that have plenty of stock. The storefront
runs under gunicorn (gthread workers, as in production) and N client threads, each a
registered customer on its own keep-alive connection, drive for a fixed time:

* ``GET /api/products`` (the first page, 20 products), and
* ``POST /api/orders`` (1-3 random lines, no Idempotency-Key).

The baseline runs the statements those requests run (token lookup, product lookup that
also sets the actor, INSERT order, one INSERT per line, read back, COMMIT; the page query)
through raw psycopg as the storefront role, with the same number of threads, each on
its own connection. The ratio api/raw is the cost of HTTP + Flask + SQLAlchemy +
pydantic; the aim is >= 0.5.

    python -m bench.storefront                     # ~40 s
    python -m bench.storefront --seconds 10 --threads 16 --workers 3
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.common import PREFIX, connect, report, scratch_database, summary
from schema import db, stack, urls
from schema.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = 200
STOCK = 1_000_000

# The statements the storefront runs, written out (see apps/flask_app/shop.py).
TOKEN_SQL = "SELECT customer_id FROM storefront.api_tokens WHERE token_hash = %s"
PAGE_SQL = (
    "SELECT sku, name, price_cents, stock FROM shop.products WHERE active ORDER BY sku LIMIT %s"
)
# The product lookup also sets the transaction's actor (one round trip, as the app does).
PRODUCTS_SQL = (
    "SELECT id, sku, name, price_cents, set_config('mergepoint.actor', %s, true)"
    " FROM shop.products WHERE sku = ANY(%s) AND active"
)
ORDER_SQL = (
    "INSERT INTO shop.orders (customer_id, idempotency_key, request_hash)"
    " VALUES (%s, %s, %s) RETURNING id"
)
LINE_SQL = (
    "INSERT INTO shop.order_lines (order_id, product_id, quantity, unit_price_cents)"
    " VALUES (%s, %s, %s, %s)"
)
HEAD_SQL = "SELECT id, status, total_cents, placed_at, updated_at FROM shop.orders WHERE id = %s"


def storefront_env(url: str) -> dict[str, str]:
    """The storefront process's environment: its own URL, no other database URL."""
    return stack.app_env("storefront", url)


def seed(owner_url: str) -> list[str]:
    """PRODUCTS active products with STOCK units each; returns their skus."""
    skus = [f"BENCH-{i:04d}" for i in range(PRODUCTS)]
    with connect(owner_url, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, %s, %s)",
                [(sku, f"Bench product {i}", 100 + i) for i, sku in enumerate(skus)],
            )
            cur.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                " SELECT id, %s, 'restock' FROM shop.products",
                [STOCK],
            )
        conn.execute("ANALYZE")
    return skus


class Server:
    """gunicorn serving create_app() on a free port, stopped on exit."""

    def __init__(self, url: str, workers: int, threads: int):
        self.port = free_port()
        self.url = url
        self.argv = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers),
            "--worker-class", "gthread",
            "--threads", str(threads),
            "--keep-alive", "30",
            "--no-control-socket",
            "--log-level", "warning",
            "apps.flask_app:create_app()",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=storefront_env(self.url), start_new_session=True
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = request(self.connection(), "GET", "/readyz")
                if status == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("gunicorn did not become ready; see its output above")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        # SIGINT is gunicorn's quick shutdown; its workers (and their database connections)
        # go with it, so the scratch database can be dropped afterwards.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    payload = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"} if payload else {}
    conn.request(method, path, payload, all_headers | (headers or {}))
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else None


def drive(
    threads: int, seconds: float, make_worker: Callable[[int], Callable[[], bool]]
) -> tuple[list[float], int, float]:
    """Run each thread's worker in a loop for ``seconds``: (durations, failures, wall time)."""
    workers = [make_worker(i) for i in range(threads)]
    durations: list[list[float]] = [[] for _ in range(threads)]
    failures = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def run(i: int) -> None:
        barrier.wait()
        while not stop.is_set():
            start = time.perf_counter()
            ok = workers[i]()
            durations[i].append(time.perf_counter() - start)
            failures[i] += not ok

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    return [d for per in durations for d in per], sum(failures), wall


def random_lines(rng: random.Random, skus: list[str]) -> list[dict[str, Any]]:
    picked = rng.sample(skus, rng.randint(1, 3))
    return [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in picked]


def api_workers(server: Server, tokens: list[str], skus: list[str], op: str, opened: list):  # type: ignore[no-untyped-def]
    def make(i: int) -> Callable[[], bool]:
        conn = server.connection()
        opened.append(conn)
        rng = random.Random(i)
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        if op == "healthz":
            return lambda: request(conn, "GET", "/healthz")[0] == 200
        if op == "products":
            return lambda: request(conn, "GET", "/api/products")[0] == 200
        return lambda: (
            request(conn, "POST", "/api/orders", {"lines": random_lines(rng, skus)}, headers)[0]
            == 201
        )

    return make


def raw_workers(url: str, tokens: list[str], skus: list[str], op: str, opened: list):  # type: ignore[no-untyped-def]
    def make(i: int) -> Callable[[], bool]:
        conn = psycopg.connect(urls.to_libpq(url), autocommit=op == "products")
        opened.append(conn)
        rng = random.Random(i)
        token_hash = hashlib.sha256(tokens[i].encode()).hexdigest()

        def products() -> bool:  # the app reads in autocommit too
            return len(conn.execute(PAGE_SQL, [21]).fetchall()) == 21

        def order() -> bool:
            lines = random_lines(rng, skus)
            quantities = {line["sku"]: line["quantity"] for line in lines}
            with conn.transaction():
                (customer_id,) = conn.execute(TOKEN_SQL, [token_hash]).fetchone()
                actor = f"storefront:customer:{customer_id}"
                found = conn.execute(PRODUCTS_SQL, [actor, list(quantities)]).fetchall()
                (order_id,) = conn.execute(ORDER_SQL, [customer_id, None, None]).fetchone()
                for pid, sku, _name, price, _actor in sorted(found):
                    conn.execute(LINE_SQL, [order_id, pid, quantities[sku], price])
                conn.execute(HEAD_SQL, [order_id]).fetchone()
            return True

        return products if op == "products" else order

    return make


def wait_for_disconnects(owner_url: str, timeout: float = 15) -> None:
    """Until the app role's backends have exited: the owner may not terminate them, so
    the scratch database's DROP ... WITH (FORCE) would fail while one lingers."""
    deadline = time.monotonic() + timeout
    with connect(owner_url, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6, help="per measurement (default 6)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per worker")
    args = parser.parse_args(argv)

    with scratch_database("storefront") as owner_url:
        storefront_url = db.role_urls(owner_url, PREFIX)["storefront"]
        migrate = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", "upgrade"],
            cwd=ROOT, env=storefront_env(storefront_url), capture_output=True, text=True,
        )  # fmt: skip
        if migrate.returncode != 0:
            raise SystemExit(f"storefront db upgrade failed: {migrate.stderr.strip()}")
        skus = seed(owner_url)
        results: dict[str, dict[str, Any]] = {}
        with Server(storefront_url, args.workers, args.worker_threads) as server:
            setup = server.connection()
            tokens = []
            for i in range(args.threads):
                status, body = request(
                    setup, "POST", "/api/customers",
                    {"email": f"bench{i}@example.com", "name": f"Bench {i}"},
                )  # fmt: skip
                assert status == 201, body
                tokens.append(body["token"])
            setup.close()
            for op in ("healthz", "products", "orders"):
                clients: list[http.client.HTTPConnection] = []
                try:
                    drive(args.threads, 1, api_workers(server, tokens, skus, op, clients))
                    durations, failures, wall = drive(
                        args.threads, args.seconds, api_workers(server, tokens, skus, op, clients)
                    )
                finally:
                    for client in clients:
                        client.close()
                results[f"api {op}"] = summary(durations, wall) | {"failures": failures}
        for op in ("products", "orders"):
            opened: list[psycopg.Connection] = []
            try:
                drive(args.threads, 1, raw_workers(storefront_url, tokens, skus, op, opened))
                durations, failures, wall = drive(
                    args.threads,
                    args.seconds,
                    raw_workers(storefront_url, tokens, skus, op, opened),
                )
            finally:
                for conn in opened:
                    conn.close()
            results[f"raw {op}"] = summary(durations, wall) | {"failures": failures}
        wait_for_disconnects(owner_url)

    ratios = {
        op: round(results[f"api {op}"]["ops_per_s"] / results[f"raw {op}"]["ops_per_s"], 2)
        for op in ("products", "orders")
    }
    rows = []
    for key, label in (
        ("api healthz", "GET /healthz (HTTP floor)"),
        ("api products", "GET /api/products"),
        ("raw products", "  same SQL, psycopg"),
        ("api orders", "POST /api/orders"),
        ("raw orders", "  same SQL, psycopg"),
    ):
        r = results[key]
        op = key.split()[1]
        ratio = ratios[op] if key.startswith("api") and op in ratios else ""
        rows.append([label, r["n"], r["ops_per_s"], r["p50_ms"], r["p95_ms"], r["failures"], ratio])
    path = report(
        "storefront",
        f"storefront: {args.threads} clients, {args.seconds:g} s each, "
        f"gunicorn {args.workers}x{args.worker_threads} gthread",
        ["operation", "n", "req/s", "p50 ms", "p95 ms", "fail", "api/raw"],
        rows,
        {
            "threads": args.threads,
            "seconds": args.seconds,
            "gunicorn": {"workers": args.workers, "threads": args.worker_threads,
                         "worker_class": "gthread"},
            "results": results,
            "ratio_api_to_raw": ratios,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
            "aim": ">= 0.5",
        },
    )  # fmt: skip
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
