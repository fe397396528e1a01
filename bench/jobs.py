"""The product import's rows/s beside the same rows set-based through the triggers, a plain
COPY for information, and trivial jobs/s per worker — all in the same run.

* ``import``      — the real path: an import of N rows recorded as the back office records
                    it, its job run by ``manage.py procrastinate worker --queues backoffice``
                    (batches of 500, one transaction each); rows/s over the job's own time
                    (started_at to finished_at), and each batch's duration.
* ``set-based``   — the baseline: the same rows as one ``INSERT … SELECT`` of products and
                    one of restock movements, as the back office, through the triggers.
* ``copy``        — for information: a plain COPY of the same products (user triggers off,
                    as the owner), no ledger at all.
* ``jobs/s``      — M trivial jobs (``storefront.ping``) deferred at once, run by one
                    storefront worker (procrastinate's command, concurrency 1): from the
                    first job started to the last one finished (procrastinate's events).

    python -m bench.jobs                          # 100,000 rows, 2,000 jobs
    python -m bench.jobs --rows 20000 --jobs 500  # quicker

Results: bench/results/jobs.json. Each contender gets a fresh database migrated to head
(roles prefixed ``bench_``); the server is MERGEPOINT_DATABASE_URL's or the embedded one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import PREFIX, report, scratch_database
from schema import db
from schema.paths import ROOT

MANAGE = str(ROOT / "apps" / "django_app" / "manage.py")


def rows_of(n: int, tag: str) -> list[list[Any]]:
    return [[i + 2, f"{tag}-{i:07d}", f"Product {i}", 100 + i % 9000, 1 + i % 50] for i in range(n)]


def env_for(url: str) -> dict[str, str]:
    urls = db.role_urls(url, PREFIX)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "BACKOFFICE_DATABASE_URL": urls["backoffice"],
        "STOREFRONT_DATABASE_URL": urls["storefront"],
        "DJANGO_SECRET_KEY": "bench-" + "x" * 44,
    }


def run(argv: list[str], env: dict[str, str], timeout: float = 1800) -> None:
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:4])} failed: {result.stderr.strip()[-2000:]}")


def bench_import(n: int) -> dict[str, Any]:
    with scratch_database("jobs_import") as url:
        env = env_for(url)
        run([sys.executable, MANAGE, "migrate", "--noinput"], env)
        with db.connect(db.role_urls(url, PREFIX)["backoffice"]) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO backoffice.product_imports (filename, username, rows, total_rows,"
                " done_rows, created, updated, unchanged, status, created_at)"
                " VALUES ('bench.csv', 'bench', %s, %s, 0, 0, 0, 0, 'queued', now())"
                " RETURNING id",
                [json.dumps(rows_of(n, "IMP")), n],
            ).fetchone()
            assert row is not None
            conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('backoffice',"
                " 'backoffice.import_products', 0, NULL, NULL, %s::jsonb, NULL)]"
                "::procrastinate_job_to_defer_v1[])",
                [json.dumps({"import_id": row[0]})],
            )
        worker = [sys.executable, MANAGE, "procrastinate", "worker", "--queues", "backoffice"]
        run([*worker, "--one-shot"], env)
        with db.owner_connect(url) as conn:
            seconds, status = conn.execute(
                "SELECT extract(epoch FROM finished_at - started_at), status"
                " FROM backoffice.product_imports"
            ).fetchone()  # type: ignore[misc]
            written = [
                r[0]
                for r in conn.execute(
                    "SELECT written_at FROM backoffice.product_import_batches ORDER BY first_row"
                ).fetchall()
            ]
            audit = conn.execute("SELECT count(*) FROM reporting.ledger_audit").fetchone()
            stock = conn.execute("SELECT sum(stock) FROM shop.products").fetchone()
    assert status == "done" and audit == (0,), (status, audit)
    assert stock == (sum(1 + i % 50 for i in range(n)),)
    batches = [(b - a).total_seconds() for a, b in zip(written, written[1:], strict=False)]
    return {
        "rows": n,
        "seconds": round(float(seconds), 3),
        "rows_per_s": round(n / float(seconds)),
        "batch_p50_ms": round(statistics.median(batches) * 1000, 1) if batches else None,
        "batch_max_ms": round(max(batches) * 1000, 1) if batches else None,
        "batches": len(written),
    }


def bench_set_based(n: int) -> dict[str, Any]:
    rows = rows_of(n, "SET")
    with scratch_database("jobs_set") as url:
        with db.connect(db.role_urls(url, PREFIX)["backoffice"]) as conn:
            start = time.perf_counter()
            with conn.transaction():
                conn.execute("SELECT set_config('mergepoint.actor', 'backoffice:bench', true)")
                conn.execute(
                    "INSERT INTO shop.products (sku, name, price_cents)"
                    " SELECT * FROM unnest(%s::text[], %s::text[], %s::int[])",
                    [[r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
                )
                conn.execute(
                    "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                    " SELECT p.id, s.stock, 'restock' FROM unnest(%s::text[], %s::int[])"
                    " AS s(sku, stock) JOIN shop.products p ON p.sku = s.sku ORDER BY p.id",
                    [[r[1] for r in rows], [r[4] for r in rows]],
                )
            seconds = time.perf_counter() - start
    return {"rows": n, "seconds": round(seconds, 3), "rows_per_s": round(n / seconds)}


def bench_copy(n: int) -> dict[str, Any]:
    rows = rows_of(n, "CPY")
    with scratch_database("jobs_copy") as url, db.owner_connect(url) as conn:
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("ALTER TABLE shop.products DISABLE TRIGGER USER")
            with cur.copy("COPY shop.products (sku, name, price_cents, stock) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row((r[1], r[2], r[3], r[4]))
            cur.execute("ALTER TABLE shop.products ENABLE TRIGGER USER")
        seconds = time.perf_counter() - start
    return {"rows": n, "seconds": round(seconds, 3), "rows_per_s": round(n / seconds)}


def bench_jobs(m: int) -> dict[str, Any]:
    with scratch_database("jobs_ping") as url:
        env = env_for(url)
        with db.connect(env["STOREFRONT_DATABASE_URL"]) as conn, conn.transaction():
            conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY(SELECT ROW('storefront',"
                " 'storefront.ping', 0, NULL, NULL, '{}'::jsonb, NULL)"
                "::procrastinate_job_to_defer_v1 FROM generate_series(1, %s)))",
                [m],
            )
        argv = [sys.executable, "-m", "procrastinate", "--app", "apps.flask_app.jobs.app"]
        argv += ["--log-level", "warning", "worker", "--queues", "storefront", "--one-shot"]
        run([*argv, "--delete-jobs", "never"], env)
        with db.owner_connect(url) as conn:
            done, seconds = conn.execute(
                "SELECT count(*) FILTER (WHERE e.type = 'succeeded'),"
                " extract(epoch FROM max(e.at) FILTER (WHERE e.type = 'succeeded')"
                "                  - min(e.at) FILTER (WHERE e.type = 'started'))"
                " FROM tasks.procrastinate_events e JOIN tasks.procrastinate_jobs j"
                " ON j.id = e.job_id WHERE j.task_name = 'storefront.ping'"
            ).fetchone()  # type: ignore[misc]
    assert done == m, (done, m)
    return {"jobs": m, "seconds": round(float(seconds), 3), "jobs_per_s": round(m / float(seconds))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows imported (100000)")
    parser.add_argument("--jobs", type=int, default=2_000, help="trivial jobs run (2000)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    imported = bench_import(args.rows)
    set_based = bench_set_based(args.rows)
    copied = bench_copy(args.rows)
    trivial = bench_jobs(args.jobs)
    ratio = round(imported["rows_per_s"] / set_based["rows_per_s"], 2)
    table = [
        [
            "import job (batches of 500)", f"{args.rows:,}", imported["seconds"],
            f"{imported['rows_per_s']:,}", ratio,
        ],
        ["set-based INSERT … SELECT, triggers", f"{args.rows:,}", set_based["seconds"],
         f"{set_based['rows_per_s']:,}", 1.0],
        ["plain COPY (no ledger; information)", f"{args.rows:,}", copied["seconds"],
         f"{copied['rows_per_s']:,}", round(copied["rows_per_s"] / set_based["rows_per_s"], 2)],
        ["trivial jobs, 1 worker", f"{args.jobs:,} jobs", trivial["seconds"],
         f"{trivial['jobs_per_s']:,} jobs/s", "-"],
    ]  # fmt: skip
    report(
        "jobs",
        f"Product import and jobs (import batches: p50 {imported['batch_p50_ms']} ms,"
        f" max {imported['batch_max_ms']} ms)",
        ["case", "size", "seconds", "rate", "ratio to set-based"],
        table,
        {
            "import": imported,
            "set_based": set_based,
            "copy": copied,
            "trivial_jobs": trivial,
            "ratio_import_to_set_based": ratio,
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
