"""The storefront's rate-limit statement: what counting a hit in the database costs.

A scratch database (migrated, roles ``bench_``, the storefront's own ``db upgrade``), the
storefront role's SQLAlchemy engine, N threads each on its own connection, for a fixed
time per case:

* ``baseline``: ``SELECT 1`` and COMMIT, the least a hit could cost (one round trip and
  a commit);
* ``hit, a new address each time``: limits.hit on a fresh bucket (the INSERT path);
* ``hit, one address``: every thread on the same bucket (the UPDATE path, hits queued on
  one row: the worst case, one client hammering);
* ``hit, 100k ended windows to prune``: fresh buckets again, with 100,000 rows whose
  window has ended waiting to be deleted (each hit deletes up to limits.PRUNE of them).

    python -m bench.limits                   # ~20 s
    python -m bench.limits --seconds 5 --threads 8
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
from collections.abc import Callable

import sqlalchemy as sa

from apps.flask_app.db import make_engine
from apps.flask_app.limits import hit
from bench.common import PREFIX, report, scratch_database, summary
from bench.storefront import ROOT, drive, storefront_env
from schema import db

BACKLOG = 100_000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4, help="per case (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    args = parser.parse_args(argv)

    with scratch_database("limits") as owner_url:
        url = db.role_urls(owner_url, PREFIX)["storefront"]
        migrate = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", "upgrade"],
            cwd=ROOT, env=storefront_env(url), capture_output=True, text=True,
        )  # fmt: skip
        if migrate.returncode != 0:
            raise SystemExit(f"storefront db upgrade failed: {migrate.stderr.strip()}")
        engine = make_engine(url, pool_size=args.threads, max_overflow=0)
        counter = itertools.count()
        results: dict[str, dict[str, float]] = {}
        try:

            def case(name: str, work: Callable[[sa.Connection], None]) -> None:
                connections = [engine.connect() for _ in range(args.threads)]

                def make(i: int) -> Callable[[], bool]:
                    conn = connections[i]
                    return lambda: work(conn) or True

                try:
                    drive(args.threads, 0.5, make)  # warm up
                    durations, failures, wall = drive(args.threads, args.seconds, make)
                finally:
                    for conn in connections:
                        conn.close()
                assert failures == 0, name
                results[name] = summary(durations, wall)

            def select_one(conn: sa.Connection) -> None:
                conn.execute(sa.text("SELECT 1"))
                conn.commit()

            case("baseline: SELECT 1 + COMMIT", select_one)
            case(
                "hit, a new address each time",
                lambda conn: hit(conn, f"registration:new-{next(counter)}", 3600),
            )
            case("hit, one address", lambda conn: hit(conn, "registration:203.0.113.7", 3600))
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO storefront.rate_limits (bucket, window_ends, hits)"
                        " SELECT 'registration:old-' || n, now() - interval '1 hour', 1"
                        " FROM generate_series(1, :n) n"
                    ),
                    {"n": BACKLOG},
                )
                conn.execute(sa.text("ANALYZE storefront.rate_limits"))
            case(
                "hit, 100k ended windows to prune",
                lambda conn: hit(conn, f"registration:pruning-{next(counter)}", 3600),
            )
            with engine.connect() as conn:
                left = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM storefront.rate_limits WHERE window_ends <= now()"
                    )
                ).scalar_one()
        finally:
            engine.dispose()

    base = results["baseline: SELECT 1 + COMMIT"]["ops_per_s"]
    rows = [
        [name, r["ops_per_s"], r["p50_ms"], r["p95_ms"], round(r["ops_per_s"] / base, 2)]
        for name, r in results.items()
    ]
    report(
        "limits",
        f"Rate-limit hits, {args.threads} threads, {args.seconds:g} s each",
        ["case", "hits/s", "p50 ms", "p95 ms", "ratio to baseline"],
        rows,
        {
            "threads": args.threads,
            "seconds": args.seconds,
            "cases": results,
            "ratio_hit_new_address_to_baseline": rows[1][4],
            "ratio_hit_one_address_to_baseline": rows[2][4],
            "ratio_hit_pruning_to_baseline": rows[3][4],
            "ended_windows_left_after_pruning_case": left,
        },
    )
    print(f"ended windows left to prune after that case: {left:,} of {BACKLOG:,}")


if __name__ == "__main__":
    main()
