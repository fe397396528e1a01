"""The back office's jobs, on its own queue (``backoffice``), run by
``manage.py procrastinate worker --queues backoffice``.

Every task is named ``backoffice.<name>``: the database lets the back office's role defer,
fetch and finish only jobs of the ``backoffice`` queue, and own only periodic tasks named
after it (alembic 0007).
"""

from __future__ import annotations

import logging

from procrastinate import JobContext, RetryStrategy
from procrastinate.contrib.django import app
from procrastinate.exceptions import JobAborted

from apps.django_app.backoffice import imports

QUEUE = "backoffice"
log = logging.getLogger(__name__)
log.setLevel(logging.INFO)  # shown under the worker's default (warning) log level

# A job interrupted (Ctrl-C, a lost connection) runs again: at once, then after a pause.
AGAIN = RetryStrategy(max_attempts=20, linear_wait=2)


@app.task(name="backoffice.import_products", queue=QUEUE, pass_context=True, retry=AGAIN)
def import_products(context: JobContext, import_id: int) -> str:
    """Write an uploaded catalogue (imports.run): batch after batch, stopping between two
    when the worker is asked to stop (it runs again later, from the last batch committed)."""
    try:
        record = imports.run(import_id, should_stop=context.should_abort)
    except imports.Stopped as exc:
        log.info("%s; it will go on later", exc)
        raise JobAborted(str(exc)) from exc
    return f"import {import_id}: {record.created} created, {record.updated} updated"


@app.periodic(cron="* * * * * */5", periodic_id="sweep")
@app.task(name="backoffice.sweep", queue=QUEUE, pass_context=True)
async def sweep(context: JobContext, timestamp: int) -> int:
    """Put back the jobs of workers that stopped sending heartbeats (killed, lost): another
    worker finishes them. procrastinate's stalled-job API, on this queue only."""
    stalled_after = float(context.additional_context.get("stalled_after", 30))
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after)
    for job in stalled:
        log.info("job %s (%s) stalled: its worker stopped; retrying it", job.id, job.task_name)
        await manager.retry_job(job)
    return len(list(stalled))


@app.periodic(cron="17 * * * *", periodic_id="prune")
@app.task(name="backoffice.prune", queue=QUEUE, pass_context=True)
async def prune(context: JobContext, timestamp: int) -> None:
    """Finished jobs go after a month (a succeeded one at once: the worker deletes it)."""
    await context.app.job_manager.delete_old_jobs(
        nb_hours=24 * 30, queue=QUEUE, include_failed=True, include_cancelled=True,
        include_aborted=True,
    )  # fmt: skip
