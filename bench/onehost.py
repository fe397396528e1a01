"""GET /api/products under one host beside two processes, on one database, in one run.

The same code deployed the two ways `mergepoint up` starts it (gunicorn, gthread, the same
workers and threads per gunicorn):

* two processes: the storefront's gunicorn and the back office's (idle here, but part of
  the deployment and of its memory);
* one host: one gunicorn serving apps/onehost.py, the back office at /backoffice/.

wrk (bench/wrk.py: C, 16 connections) drives ``GET /api/products`` (the first page, 20
products) against each, in alternating rounds so drift on a shared machine hits both; the
ratio one-host / two-process is what the path dispatcher and sharing the process cost.
Also each deployment's resident memory (every process of it, after the load).

    python -m bench.onehost [--rounds 3] [--seconds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Mapping

import psutil

from bench import wrk
from bench.common import PREFIX, report, scratch_database, wait_ok
from bench.storefront import seed
from schema import db, stack
from schema.paths import ROOT
from schema.ports import free_port
from schema.registry import APPS, ONE_HOST_WSGI


def start(target: str, env: Mapping[str, str], workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--threads", "4", "--no-control-socket",
            "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(argv, cwd=ROOT, env=dict(env), start_new_session=True)
    return process, port



def rss_mib(processes: list[subprocess.Popen]) -> float:
    """Resident memory of these processes and all their children, in MiB."""
    total = 0
    for process in processes:
        parent = psutil.Process(process.pid)
        for p in [parent, *parent.children(recursive=True)]:
            total += p.memory_info().rss
    return total / 2**20


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--workers", type=int, default=2, help="per gunicorn, as `up`'s default")
    args = parser.parse_args()

    running: list[subprocess.Popen] = []
    with scratch_database("onehost") as owner_url:
        urls = db.role_urls(owner_url, PREFIX)
        envs = {app.name: stack.app_env(app.name, urls[app.name]) for app in APPS}
        envs["backoffice"].update(
            DJANGO_SECRET_KEY="bench-only-" + "x" * 40, DJANGO_ALLOWED_HOSTS="127.0.0.1"
        )
        stack.run_app_migrations(envs)
        seed(owner_url)
        try:
            storefront, sf_port = start(APPS[0].wsgi, envs["storefront"], args.workers)
            backoffice, bo_port = start(APPS[1].wsgi, envs["backoffice"], args.workers)
            one, one_port = start(ONE_HOST_WSGI, stack.one_host_env(envs), args.workers)
            running += [storefront, backoffice, one]
            wait_ok(f"http://127.0.0.1:{sf_port}/readyz")
            wait_ok(f"http://127.0.0.1:{bo_port}/readyz")
            wait_ok(f"http://127.0.0.1:{one_port}/readyz")
            wait_ok(f"http://127.0.0.1:{one_port}/backoffice/readyz")
            targets = {
                "two processes": f"http://127.0.0.1:{sf_port}/api/products",
                "one host": f"http://127.0.0.1:{one_port}/api/products",
            }
            for url in targets.values():  # warm both up (imports, pools, first queries)
                wrk.run(url, seconds=2)
            results: dict[str, list[wrk.Result]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, url in targets.items():
                    results[name].append(wrk.run(url, seconds=args.seconds))
            memory = {
                "two processes": rss_mib([storefront, backoffice]),
                "one host": rss_mib([one]),
            }
        finally:
            stop(running)

    rps = {name: statistics.median(r.rps for r in rs) for name, rs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in rs) for name, rs in results.items()}
    errors = {name: sum(r.errors for r in rs) for name, rs in results.items()}
    ratio = rps["one host"] / rps["two processes"]
    memory_ratio = memory["one host"] / memory["two processes"]
    rows = [
        [name, f"{rps[name]:,.0f}", f"{p99[name]:.1f}", errors[name], f"{memory[name]:.0f}"]
        for name in targets
    ]
    rows.append(["one host / two processes", f"{ratio:.2f}", "", "", f"{memory_ratio:.2f}"])
    report(
        "onehost",
        f"GET /api/products: one host vs two processes (wrk, 16 connections,"
        f" {args.workers} workers x 4 threads per gunicorn)",
        ["deployment", "req/s (median)", "p99 ms", "errors", "memory MiB"],
        rows,
        {
            "rounds": args.rounds,
            "seconds": args.seconds,
            "workers": args.workers,
            "rps": {name: round(v, 1) for name, v in rps.items()},
            "rps_per_round": {name: [round(r.rps) for r in rs] for name, rs in results.items()},
            "p99_ms": {name: round(v, 2) for name, v in p99.items()},
            "errors": errors,
            "memory_mib": {name: round(v, 1) for name, v in memory.items()},
            "ratio": round(ratio, 3),
            "ratio_memory": round(memory_ratio, 3),
        },
    )


if __name__ == "__main__":
    main()
