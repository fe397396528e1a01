"""What every benchmark shares: a throwaway database on the embedded server (or a server
of the benchmark's own), timing statistics, and one way to print a table and write the
JSON results."""

from __future__ import annotations

import json
import os
import platform
import secrets
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from schema import db, embedded, migrations, roles
from schema.urls import to_libpq, with_dbname

RESULTS = Path(__file__).resolve().parent / "results"
PREFIX = "bench_"


def wait_ok(
    url: str, timeout: float = 60, process: subprocess.Popen[Any] | None = None
) -> None:
    """Until ``url`` answers 200; a clear exit if it does not in ``timeout`` seconds or
    ``process`` (the server behind it) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server for {url} exited ({process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def start_own_server(directory: Path, max_connections: int) -> embedded.Embedded:
    """An embedded server in ``directory`` with ``max_connections`` raised (the default 100
    is short for many servers' pools at once); stop it with ``embedded.stop(directory)``."""
    server = embedded.ensure_running(directory)
    with psycopg.connect(to_libpq(server.superuser_url), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET max_connections = {int(max_connections)}")
    embedded.stop(directory)
    return embedded.ensure_running(directory)


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """A new database migrated to head with roles (prefix ``bench_``); dropped afterwards.

    Uses MERGEPOINT_DATABASE_URL's server, or the embedded one (``.mergepoint/``).
    Yields the owner's URL for it.
    """
    owner = db.owner_url()
    name = f"bench_{label}_{secrets.token_hex(3)}"
    db.create_database(owner, name)
    url = with_dbname(owner, name)
    try:
        migrations.upgrade(url)
        roles.reconcile(url, PREFIX)
        yield url
    finally:
        db.drop_database(owner, name)




def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    return psycopg.connect(to_libpq(url), **kwargs)


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Run ``fn`` n times; each call's duration in seconds."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def summary(durations: list[float], wall: float | None = None) -> dict[str, float]:
    """ops/s (over the wall time when given, else the sum), p50 and p95 in milliseconds."""
    ordered = sorted(durations)
    total = wall if wall is not None else sum(durations)
    return {
        "n": len(durations),
        "ops_per_s": round(len(durations) / total, 1) if total else 0.0,
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 3),
    }


def report(name: str, title: str, columns: list[str], rows: list[list[Any]], data: dict) -> Path:
    """Print a rich table and write bench/results/<name>.json (with machine and date)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*[str(v) for v in row])
    Console(width=120).print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **data,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
