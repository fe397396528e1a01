"""The back office's admin pages under each WSGI server `mergepoint up` could run it with.

A scratch shop seeded like `mergepoint up`'s demo (200 customers, 60 products, 2,000
orders), the back office migrated and a superuser; each candidate server runs the back
office (DEBUG off, as `up` runs it) at once, and wrk (16 connections, a logged-in
session's cookie) takes the admin's index (the staff feed) and the orders list from each,
in rounds, one server after another: the medians are reported.

    python -m bench.admin_servers                  # ~3 min
    python -m bench.admin_servers --seconds 5 --rounds 2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import httpx

from bench import wrk
from bench.backoffice import app_env, login, prepare
from bench.common import report, scratch_database
from bench.storefront import median_of, server
from schema import servers as wsgi
from schema.ports import free_port

TARGET = "apps.django_app.config.wsgi:application"
PAGES = {"index": "/admin/", "orders": "/admin/backoffice/order/"}


def candidate(server_name: str, workers: int, threads: int) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        serve = wsgi.Serve(host="127.0.0.1", port=port, workers=workers, threads=threads)
        return wsgi.argv(server_name, TARGET, serve)

    return argv


CANDIDATES = {
    "gunicorn-gthread-2x4": candidate("gunicorn", 2, 4),
    "gunicorn-gthread-2x8": candidate("gunicorn", 2, 8),
    "granian-2x4": candidate("granian", 2, 4),
    "granian-2x8": candidate("granian", 2, 8),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    seconds = max(1, round(args.seconds))
    runs: dict[str, dict[str, list[wrk.Result]]] = {}
    with scratch_database("admin") as url, ExitStack() as stack:
        prepare(url, 2_000)
        env = app_env(url)
        cookies: dict[str, str] = {}
        bases: dict[str, str] = {}
        for name, make in CANDIDATES.items():
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            stack.enter_context(server(make(port), env, f"{base}/admin/login/"))
            with httpx.Client(base_url=base, timeout=30) as client:
                login(client)
                cookies[name] = f"sessionid={client.cookies['sessionid']}"
            bases[name] = base
        for round_ in range(1, args.rounds + 1):
            for page, path in PAGES.items():
                for name, base in bases.items():
                    lua = f'wrk.headers["Cookie"] = "{cookies[name]}"\n'
                    wrk.run(f"{base}{path}", seconds=1, connections=16, script=lua)
                    result = wrk.run(f"{base}{path}", seconds=seconds, connections=16, script=lua)
                    if result.non2xx:
                        raise SystemExit(f"{name} {path}: {result.non2xx} non-2xx answers")
                    runs.setdefault(name, {}).setdefault(page, []).append(result)
            figures = "; ".join(
                f"{n} " + ", ".join(f"{p} {r[-1].rps:,.0f}" for p, r in per.items())
                for n, per in runs.items()
            )
            print(f"  round {round_}: {figures}", flush=True)
        stack.close()
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    for name, per in runs.items():
        for page, results in per.items():
            r = median_of(results)
            rows.append([name, PAGES[page], f"{r.rps:,.0f}", f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}",
                         r.errors])  # fmt: skip
            data.setdefault(name, {})[page] = {
                "rps": round(r.rps, 1), "p50_ms": round(r.p50_ms, 2),
                "p99_ms": round(r.p99_ms, 2), "runs": [round(x.rps, 1) for x in results],
            }  # fmt: skip
    report(
        "admin_servers",
        f"back office admin pages: wrk 16 connections, {seconds} s, median of {args.rounds}",
        ["server", "page", "req/s", "p50 ms", "p99 ms", "errors"],
        rows,
        {"seconds": seconds, "rounds": args.rounds, "servers": data},
    )


if __name__ == "__main__":
    main()
