"""The storefront's jobs, on its own queue (``storefront``), and its procrastinate app.

Run the worker with procrastinate's own command::

    procrastinate --app apps.flask_app.jobs.app worker --queues storefront

It reads STOREFRONT_DATABASE_URL when it starts (a direct URL: its LISTEN and its
connections must not go through a transaction pooler) and STOREFRONT_WORKER_HEARTBEAT
(seconds between heartbeats, default 5; a worker silent for three is stalled, and the
sweep below puts its jobs back). Every task is named ``storefront.<name>``: the database
lets the storefront's role defer, fetch and finish only its own queue's jobs (alembic
0007). The web process never opens this app's pool: it defers on the request's own
connection (exports.request_export).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import sqlalchemy as sa
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import JobAborted

from apps.flask_app import exports
from apps.flask_app.db import make_engine, pooled, sqlalchemy_url
from apps.flask_app.errors import ConfigError

QUEUE = "storefront"
ENV_URL = "STOREFRONT_DATABASE_URL"
ENV_HEARTBEAT = "STOREFRONT_WORKER_HEARTBEAT"
APPLICATION_NAME = "storefront-worker"

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)  # shown under the worker's default (warning) log level


def heartbeat(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    raw = environ.get(ENV_HEARTBEAT, "").strip() or "5"
    if not raw.isdigit() or not 1 <= int(raw) <= 3600:
        raise ConfigError(f"{ENV_HEARTBEAT} must be a whole number of seconds from 1 to 3600")
    return int(raw)


def worker_conninfo(url: str | None) -> str:
    """libpq's connection string for the worker, from the storefront's URL (direct only)."""
    if not url:
        raise ConfigError(
            f"{ENV_URL} is not set: set it to the storefront role's direct URL"
            " (STOREFRONT_DIRECT_DATABASE_URL from `mergepoint env`)"
        )
    if pooled(url):
        raise ConfigError(
            f"{ENV_URL} leads to a transaction pooler (pooler=transaction): the worker"
            " listens for jobs (LISTEN), which needs a direct connection; use"
            " STOREFRONT_DIRECT_DATABASE_URL from `mergepoint env`"
        )
    parsed = sqlalchemy_url(url).difference_update_query(["pooler", "prepare_threshold"])
    if "application_name" not in parsed.query:
        parsed = parsed.update_query_dict({"application_name": APPLICATION_NAME})
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class StorefrontConnector(PsycopgConnector):
    """procrastinate's psycopg connector, configured from the environment when the worker
    opens it (not at import: the web process imports this module and never opens it)."""

    async def open_async(self, pool: Any = None) -> None:
        if pool is None:
            self._pool_args.update(
                conninfo=worker_conninfo(os.environ.get(ENV_URL)), min_size=1, max_size=4
            )
        await super().open_async(pool)


_HEARTBEAT = heartbeat()
app = App(
    connector=StorefrontConnector(),
    worker_defaults={
        "update_heartbeat_interval": _HEARTBEAT,
        "stalled_worker_timeout": 3 * _HEARTBEAT,
        "shutdown_graceful_timeout": 0,  # on Ctrl-C a running job is asked to stop at once
        "delete_jobs": "successful",  # an export keeps its own record (data_exports)
        "additional_context": {"stalled_after": 3 * _HEARTBEAT},
    },
)

# A job interrupted (Ctrl-C, a lost connection) runs again: at once, then after a pause.
AGAIN = RetryStrategy(max_attempts=20, linear_wait=2)
_engines: dict[str, sa.Engine] = {}


def engine() -> sa.Engine:
    """The worker's SQLAlchemy engine for what jobs do (one per URL, made on first use)."""
    url = os.environ.get(ENV_URL) or ""
    worker_conninfo(url)  # the same checks as the worker's own connections
    if url not in _engines:
        _engines[url] = make_engine(url, pool_size=2, application_name=APPLICATION_NAME)
    return _engines[url]


@app.task(name="storefront.export_customer_data", queue=QUEUE, pass_context=True, retry=AGAIN)
def export_customer_data(context: JobContext, export_id: int) -> bool:
    """Make a customer's export (one short transaction); nothing to do if it is gone."""
    if context.should_abort():
        raise JobAborted("the worker is stopping")
    with engine().begin() as conn:
        made = exports.build(conn, export_id)
    log.info("export %s: %s", export_id, "made" if made else "nothing to do")
    return made


@app.task(name="storefront.ping", queue=QUEUE)
def ping() -> None:
    """A job that does nothing: a queue's health check, and bench/jobs.py's unit of work."""


@app.periodic(cron="* * * * * */5", periodic_id="sweep")
@app.task(name="storefront.sweep", queue=QUEUE, pass_context=True)
async def sweep(context: JobContext, timestamp: int) -> int:
    """Put back the jobs of workers that stopped sending heartbeats (killed, lost): another
    worker finishes them. procrastinate's stalled-job API, on this queue only."""
    stalled_after = float(context.additional_context.get("stalled_after", 30))
    manager = context.app.job_manager
    stalled = list(
        await manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after)
    )
    for job in stalled:
        log.info("job %s (%s) stalled: its worker stopped; retrying it", job.id, job.task_name)
        await manager.retry_job(job)
    return len(stalled)


@app.periodic(cron="23 * * * *", periodic_id="prune")
@app.task(name="storefront.prune", pass_context=True, queue=QUEUE)
async def prune(context: JobContext, timestamp: int) -> int:
    """Expired exports go; so do finished jobs older than a month."""
    gone = await asyncio.to_thread(_prune_exports)
    await context.app.job_manager.delete_old_jobs(
        nb_hours=24 * 30, queue=QUEUE, include_failed=True, include_cancelled=True,
        include_aborted=True,
    )  # fmt: skip
    return gone


def _prune_exports() -> int:
    with engine().begin() as conn:
        return exports.prune(conn)
