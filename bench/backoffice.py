"""The back office's orders list at 1 thousand and at 1 million orders, in one run.

For each size: a scratch database (migrated, roles ``bench_``), seeded with that many
orders (``schema.seed``, COPY), ANALYZEd, Django's own migrate as the back office role,
a superuser, and the back office under gunicorn (one worker, DEBUG off) as it runs in
production. A logged-in client then times ``GET /admin/backoffice/order/`` over HTTP
(unfiltered, filtered by a status, and a search by a customer's email). The baseline, in
the same databases and run, is raw psycopg running the page's own row query (100 orders
joined to their customers, newest first) as the back office role. Both shops run at
once and requests alternate between them, so both see the same load on a shared machine.

The aim is a flat list: large/small <= 2 for the unfiltered page.

    python -m bench.backoffice                    # 1k vs 1M orders (seeding 1M: ~1 min)
    python -m bench.backoffice --large 100000     # quicker
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx
import psycopg

from bench.common import PREFIX, connect, report, scratch_database, summary
from schema import db, stack
from schema.ports import free_port
from schema.seed import seed_shop

ROOT = Path(__file__).resolve().parent.parent
USERNAME = "bench"
PASSWORD = "bench-password-not-secret"

# What the changelist fetches for its rows (Django's query, written out).
PAGE_SQL = """
SELECT o.id, o.customer_id, o.status, o.total_cents, o.placed_at, o.updated_at,
       o.idempotency_key, o.request_hash, c.id, c.email, c.name, c.created_at
  FROM orders o JOIN customers c ON c.id = o.customer_id
 ORDER BY o.id DESC
 LIMIT 100
"""


def app_env(url: str) -> dict[str, str]:
    """What the back office process gets: its own URL and settings, no other database URL."""
    env = stack.app_env("backoffice", db.role_urls(url, PREFIX)["backoffice"])
    env.update(
        DJANGO_SECRET_KEY="bench-secret-key-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_DEBUG="0",
        PYTHONPATH=str(ROOT),
    )
    return env


def prepare(url: str, orders: int) -> tuple[str, float]:
    """Seed, analyze, migrate the back office, create its superuser; an email to search."""
    start = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        seed_shop(conn, customers=max(100, orders // 20), products=500, orders=orders, seed=11)
        conn.execute("VACUUM ANALYZE")
        email = conn.execute(
            "SELECT c.email FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id"
            " ORDER BY o.id DESC LIMIT 1 OFFSET 500"
        ).fetchone()[0]
    seeded = time.perf_counter() - start
    manage = [sys.executable, str(ROOT / "apps" / "django_app" / "manage.py")]
    subprocess.run(
        [*manage, "migrate", "--noinput"], env=app_env(url), check=True, capture_output=True
    )
    env = app_env(url) | {
        "DJANGO_SUPERUSER_USERNAME": USERNAME,
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "bench@example.com",
    }
    subprocess.run(
        [*manage, "createsuperuser", "--noinput"],
        env=env,
        check=True,
        capture_output=True,
    )
    return email, seeded


def start_server(url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "apps.django_app.config.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with log.open("w") as out:
        server = subprocess.Popen(argv, env=app_env(url), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/admin/login/").status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not start:\n{log.read_text()}")


def login(client: httpx.Client) -> None:
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": USERNAME, "password": PASSWORD},
    )
    if response.status_code != 302:
        raise SystemExit(f"could not log in: {response.status_code}")


def get(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - start
    if response.status_code != 200 or "result_list" not in response.text:
        raise SystemExit(f"{path}: HTTP {response.status_code}")
    return elapsed


def query(conn: psycopg.Connection) -> float:
    start = time.perf_counter()
    conn.execute(PAGE_SQL).fetchall()
    return time.perf_counter() - start


def interleaved(calls: dict[str, Callable[[], float]], n: int) -> dict[str, dict[str, float]]:
    """Time each call n times, alternating between them, so all see the same machine load
    (the machine is shared); three untimed rounds first (connections, caches)."""
    for _ in range(3):
        for call in calls.values():
            call()
    durations: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(n):
        for label, call in calls.items():
            durations[label].append(call())
    return {label: summary(d) for label, d in durations.items()}


@contextmanager
def shop(label: str, size: int, workdir: Path) -> Iterator[dict]:
    """A seeded scratch shop with the back office running on it under gunicorn."""
    with scratch_database(f"bo{label}") as url:
        print(f"seeding {size:,} orders ...", flush=True)
        email, seeded = prepare(url, size)
        server, base = start_server(url, workdir / f"gunicorn-{label}.log")
        try:
            with (
                httpx.Client(base_url=base, timeout=60) as client,
                connect(db.role_urls(url, PREFIX)["backoffice"], autocommit=True) as raw,
            ):
                login(client)
                raw.execute("SET search_path = backoffice, shop")
                yield {
                    "url": url,
                    "orders": size,
                    "seed_seconds": round(seeded, 1),
                    "client": client,
                    "raw": raw,
                    "email": email,
                }
        finally:
            server.terminate()
            server.wait(timeout=30)


PAGES = {
    "unfiltered": "/admin/backoffice/order/",
    # shipped: the status whose page is full (100 rows) in both shops, so like is timed with like
    "status=shipped": "/admin/backoffice/order/?status__exact=shipped",
    "search email": "/admin/backoffice/order/?q={email}",
}


def measure(small_size: int, large_size: int, n: int, workdir: Path) -> dict[str, dict]:
    with (
        shop("small", small_size, workdir) as small,
        shop("large", large_size, workdir) as large,
    ):
        results: dict[str, dict] = {
            label: {"orders": s["orders"], "seed_seconds": s["seed_seconds"], "pages": {}}
            for label, s in (("small", small), ("large", large))
        }
        for page, path in PAGES.items():
            timings = interleaved(
                {
                    label: partial(get, s["client"], path.format(email=s["email"]))
                    for label, s in (("small", small), ("large", large))
                },
                n,
            )
            for label in ("small", "large"):
                results[label]["pages"][page] = timings[label]
        raw = interleaved(
            {"small": partial(query, small["raw"]), "large": partial(query, large["raw"])}, n
        )
        for label in ("small", "large"):
            results[label]["raw"] = raw[label]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="orders in the small shop")
    parser.add_argument("--large", type=int, default=1_000_000, help="orders in the large shop")
    parser.add_argument("-n", type=int, default=30, help="timed requests per page")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-backoffice-") as tmp:
        results = measure(args.small, args.large, args.n, Path(tmp))
    small, large = results["small"], results["large"]

    rows = []
    ratios = {}
    for page in small["pages"]:
        s, lg = small["pages"][page], large["pages"][page]
        ratios[page] = round(lg["p50_ms"] / s["p50_ms"], 2)
        rows.append(
            [
                f"changelist {page}",
                s["p50_ms"],
                s["p95_ms"],
                lg["p50_ms"],
                lg["p95_ms"],
                ratios[page],
            ]
        )
    ratios["raw psycopg"] = round(large["raw"]["p50_ms"] / small["raw"]["p50_ms"], 2)
    rows.append([
        "raw psycopg page query",
        small["raw"]["p50_ms"], small["raw"]["p95_ms"],
        large["raw"]["p50_ms"], large["raw"]["p95_ms"],
        ratios["raw psycopg"],
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
        "backoffice",
        f"Orders changelist: {args.small:,} vs {args.large:,} orders (aim: large/small <= 2)",
        columns,
        rows,
        {"small": small, "large": large, "ratio_p50": ratios, "aim": "unfiltered ratio <= 2"},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
