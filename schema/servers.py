"""The WSGI servers `mergepoint up` can run an app under, as the command lines their users
would type.

granian (a Rust HTTP server with a WSGI interface, on PyPI) is the default: measured with
wrk by ``python -m bench.storefront`` on this 2-core machine (bench/results/storefront.json)
it serves the storefront's ``/healthz`` about twice as fast as gunicorn (8,131 against
4,196 req/s, 2 workers x 4 threads each), its catalogue at 1,888 against 1,526 and its
orders at 593 against 539 (gunicorn gthread 3 x 4 and sync 3 did no better); and
``python -m bench.admin_servers`` (bench/results/admin_servers.json) the back office's
admin index at 225 against 178 req/s and its orders list at 36 against 14. 4 threads per
worker rather than 8: no more throughput on 2 cores, a lower p99 for orders.
gunicorn stays a supported way to run both apps on their own (``gunicorn
'apps.flask_app:create_app()'``; the PROXY protocol and ``forwarded_allow_ips`` behind a
proxy are gunicorn's), and ``mergepoint up --server gunicorn`` runs them under it.

Both take a target the way gunicorn spells it (``module:name``, or ``module:factory()``
for an application factory); granian gets ``module:factory`` with ``--factory``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

GRANIAN, GUNICORN = "granian", "gunicorn"
NAMES = (GRANIAN, GUNICORN)
DEFAULT = GRANIAN
# Threads per worker process that run the app (gunicorn's gthread threads, granian's
# blocking threads): the most requests one process works on at once. Four per worker, two
# workers: each app's pool (5 connections) is never short, and measured more would not
# serve more on 2 cores. granian's --backpressure is left at its default (backlog/workers):
# it caps the *connections* a worker holds, keep-alive ones included, so setting it to the
# thread count starved a browser's sixth connection (tests/integration/test_servers.py).
THREADS = 4


@dataclass(frozen=True)
class Serve:
    """Where and how much to serve."""

    host: str
    port: int
    workers: int
    threads: int = THREADS
    access_log: bool = False  # errors and start-up are always logged
    # Several servers on one port (SO_REUSEPORT), as hosts behind a load balancer would be.
    # granian always binds so; gunicorn needs --reuse-port.
    reuse_port: bool = False


def argv(server: str, target: str, serve: Serve) -> list[str]:
    """The command line serving ``target`` (gunicorn's spelling) with ``server``."""
    if server == GUNICORN:
        return gunicorn(target, serve)
    if server == GRANIAN:
        return granian(target, serve)
    raise ValueError(f"unknown server {server!r}: one of {', '.join(NAMES)}")


def gunicorn(target: str, serve: Serve) -> list[str]:
    out = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{serve.host}:{serve.port}",
        "--workers", str(serve.workers),
        "--threads", str(serve.threads),
        "--error-logfile", "-",
        "--graceful-timeout", "5",
        "--no-control-socket",  # two gunicorns would fight over ~/.gunicorn/gunicorn.ctl
    ]  # fmt: skip
    if serve.access_log:
        out += ["--access-logfile", "-"]
    if serve.reuse_port:
        out += ["--reuse-port"]
    return [*out, target]


def granian(target: str, serve: Serve) -> list[str]:
    module, _, name = target.partition(":")
    factory = name.endswith("()")
    out = [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--host", serve.host,
        "--port", str(serve.port),
        "--workers", str(serve.workers),
        "--blocking-threads", str(serve.threads),
        "--no-ws",  # WSGI has no websockets (granian would say so at every start)
        "--workers-kill-timeout", "5",
    ]  # fmt: skip
    if serve.access_log:
        out += ["--access-log"]
    if factory:
        out += ["--factory"]
    return [*out, f"{module}:{name.removesuffix('()')}"]
