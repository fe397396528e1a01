"""The queue workers as their users run them, under faults: SIGKILL mid-import, Ctrl-C.

Each test runs ``manage.py procrastinate worker --queues backoffice`` (and the storefront's
``procrastinate`` command) as real processes on a database of its own, with a heartbeat of
one second (a worker silent for three is stalled; the periodic sweep puts its job back).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from schema.paths import ROOT

pytestmark = pytest.mark.slow

MANAGE = str(ROOT / "apps" / "django_app" / "manage.py")
ROWS = 10_000
IMPORT_TASK = "backoffice.import_products"


class Worker:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path):
        self.log = log
        self.out = log.open("w")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGKILL)
        self.process.wait(10)
        self.out.close()


@pytest.fixture
def workers(fresh_db, tmp_path) -> Iterator:
    started: list[Worker] = []

    def start(app: str = "backoffice", queues: str | None = None) -> Worker:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "DJANGO_SECRET_KEY": "worker-test-" + "x" * 40,
            "BACKOFFICE_DATABASE_URL": fresh_db.url("backoffice"),
            "STOREFRONT_DATABASE_URL": fresh_db.url("storefront"),
            "BACKOFFICE_WORKER_HEARTBEAT": "1",
            "STOREFRONT_WORKER_HEARTBEAT": "1",
        }
        if app == "backoffice":
            argv = [sys.executable, MANAGE, "procrastinate", "worker"]
        else:
            argv = [sys.executable, "-m", "procrastinate", "--app", "apps.flask_app.jobs.app"]
            argv += ["worker"]
        if queues is not None:
            argv += ["--queues", queues]
        worker = Worker(argv, env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def new_import(conn: psycopg.Connection, rows: int = ROWS) -> tuple[int, list[str]]:
    """An import as the back office's upload records it (its own table), and its job,
    deferred as the back office defers it: both in one transaction, as the back office."""
    skus = [f"KILL-{i:06d}" for i in range(rows)]
    content = [[i + 2, sku, f"Product {i}", 100 + i, i % 50] for i, sku in enumerate(skus)]
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO backoffice.product_imports (filename, username, rows, total_rows,"
            " done_rows, created, updated, unchanged, status, created_at)"
            " VALUES ('kill.csv', 'tester', %s, %s, 0, 0, 0, 0, 'queued', now()) RETURNING id",
            [json.dumps(content), rows],
        ).fetchone()
        assert row is not None
        conn.execute(
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('backoffice',"
            " 'backoffice.import_products', 0, NULL, NULL, %s::jsonb, NULL)]"
            "::procrastinate_job_to_defer_v1[])",
            [json.dumps({"import_id": row[0]})],
        )
    return row[0], skus


def state(owner: psycopg.Connection, import_id: int) -> tuple[str, int]:
    row = owner.execute(
        "SELECT status, done_rows FROM backoffice.product_imports WHERE id = %s", [import_id]
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def wait_for(condition, timeout: float, what: str, logs: list[Worker]) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    tails = "\n".join(w.log.read_text()[-3000:] for w in logs)
    pytest.fail(f"{what} within {timeout}s; worker logs:\n{tails}")


def assert_imported_once(owner: psycopg.Connection, import_id: int, skus: list[str]) -> None:
    assert state(owner, import_id) == ("done", len(skus))
    stock = dict(
        owner.execute("SELECT sku, stock FROM shop.products WHERE sku LIKE 'KILL-%%'").fetchall()
    )
    assert stock == {sku: i % 50 for i, sku in enumerate(skus)}
    batches = owner.execute(
        "SELECT count(*), count(DISTINCT first_row) FROM backoffice.product_import_batches"
        " WHERE product_import_id = %s",
        [import_id],
    ).fetchone()
    assert batches is not None and batches[0] == batches[1] == -(-len(skus) // 500)
    movements = owner.execute(
        "SELECT count(*), count(DISTINCT product_id) FROM shop.stock_movements WHERE actor = %s",
        [f"backoffice:tester:import:{import_id}"],
    ).fetchone()
    expected = sum(1 for i in range(len(skus)) if i % 50)
    assert movements == (expected, expected)  # one restock per product: never doubled
    assert owner.execute("SELECT * FROM reporting.ledger_audit").fetchall() == []
    counts = owner.execute(
        "SELECT created, updated, unchanged FROM backoffice.product_imports WHERE id = %s",
        [import_id],
    ).fetchone()
    assert counts == (len(skus), 0, 0)


def test_a_worker_killed_mid_import_leaves_the_job_to_another_that_finishes_it_once(
    fresh_db, owner, workers
):
    with fresh_db.connect("backoffice") as conn:
        import_id, skus = new_import(conn)
    first = workers(queues="backoffice")
    wait_for(lambda: state(owner, import_id)[1] >= 1500, 60, "the import did not start", [first])
    first.signal(signal.SIGKILL)
    first.process.wait(10)
    killed_at = state(owner, import_id)
    assert killed_at[0] == "running" and killed_at[1] < len(skus)
    job = owner.execute(
        "SELECT status::text FROM tasks.procrastinate_jobs WHERE task_name = %s", [IMPORT_TASK]
    ).fetchall()
    assert job == [("doing",)]  # left as it was: nobody is working on it
    second = workers(queues="backoffice")
    wait_for(
        lambda: state(owner, import_id)[0] == "done", 90, "the import did not finish",
        [first, second],
    )  # fmt: skip
    assert_imported_once(owner, import_id, skus)
    assert "stalled: its worker stopped; retrying it" in second.log.read_text()


def test_ctrl_c_stops_a_worker_within_10_s_and_its_job_runs_again_later(fresh_db, owner, workers):
    with fresh_db.connect("backoffice") as conn:
        import_id, skus = new_import(conn)
    first = workers(queues="backoffice")
    wait_for(lambda: state(owner, import_id)[1] >= 1000, 60, "the import did not start", [first])
    stopped = time.monotonic()
    first.signal(signal.SIGINT)
    assert first.process.wait(10) == 0
    assert time.monotonic() - stopped < 10
    status, done = state(owner, import_id)
    assert status == "running" and done < len(skus)
    jobs = owner.execute(
        "SELECT status::text, attempts FROM tasks.procrastinate_jobs WHERE task_name = %s",
        [IMPORT_TASK],
    ).fetchall()
    assert jobs == [("todo", 1)]  # aborted by the shutdown, and so retried
    assert "stopped at row" in first.log.read_text()
    second = workers(queues="backoffice")
    wait_for(
        lambda: state(owner, import_id)[0] == "done", 90, "the import did not finish",
        [first, second],
    )  # fmt: skip
    assert_imported_once(owner, import_id, skus)


def test_workers_without_queues_take_only_their_own_apps_jobs(fresh_db, owner, workers):
    with fresh_db.connect("storefront", autocommit=True) as conn:
        conn.execute(
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('storefront',"
            " 'storefront.export_customer_data', 0, NULL, NULL, '{\"export_id\": 0}'::jsonb,"
            " NULL)]::procrastinate_job_to_defer_v1[])"
        )
    with fresh_db.connect("backoffice") as conn:
        import_id, skus = new_import(conn, rows=600)
    backoffice = workers()  # no --queues: "all queues"
    wait_for(
        lambda: state(owner, import_id)[0] == "done", 60, "the import did not finish",
        [backoffice],
    )  # fmt: skip
    time.sleep(1)  # time enough to take the storefront's job too, were it allowed to
    assert owner.execute(
        "SELECT queue_name, status::text FROM tasks.procrastinate_jobs"
        " WHERE task_name NOT LIKE '%%.sweep'"
    ).fetchall() == [("storefront", "todo")]
    storefront = workers("storefront")
    wait_for(
        lambda: (
            owner.execute(
                "SELECT count(*) FROM tasks.procrastinate_jobs WHERE queue_name = 'storefront'"
                " AND task_name = 'storefront.export_customer_data'"
            ).fetchone()
            == (0,)
        ),
        60,
        "the storefront's worker did not take its job",
        [storefront],
    )
