"""`mergepoint up --pooler --replica --storefront-processes 3`, end to end, under 200
concurrent HTTP clients: nothing oversold, no error, the ledger whole (audited on the
replica), and PostgreSQL never sees more storefront connections than the pool size."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from schema import pooler, replica
from schema.paths import ROOT
from schema.urls import to_libpq, with_user
from tests.concurrency import race
from tests.integration.test_up import Up
from tests.reliability.conftest import Call, call, register_customers, summary
from tests.support import exports, free_port

pytestmark = pytest.mark.slow

POOL_SIZE = 5
PROCESSES = 3
CLIENTS = 200
UNITS = 50


def mergepoint(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "schema.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def data_dir():
    directory = Path(tempfile.mkdtemp(prefix="mp-up-"))  # short: sockets live in it
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_up_through_the_pooler_with_a_replica_and_three_storefronts_under_200_clients(
    data_dir,
):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_DATABASE_URL") and k != "MERGEPOINT_ROLE_PREFIX"
    }
    env.update(
        MERGEPOINT_DATA_DIR=str(data_dir),
        MERGEPOINT_ADMIN_PASSWORD="scaled-up-secret",
        # 200 customers register from this one address: the test sets the limit it needs.
        STOREFRONT_REGISTRATION_LIMIT="1000",
    )
    shop_port, office_port, pooler_port = free_port(), free_port(), free_port()
    up = Up(
        env,
        "--pooler", "--pooler-port", str(pooler_port), "--pool-size", str(POOL_SIZE),
        "--replica", "--storefront-processes", str(PROCESSES), "--no-seed",
        "--storefront-port", str(shop_port), "--backoffice-port", str(office_port),
    )  # fmt: skip
    try:
        up.wait_for(r"mergepoint is up", timeout=240)
        children = psutil.Process(up.process.pid).children(recursive=True)
        output = "\n".join(up.lines)
        for name in ("pgbouncer |", "replica |", "storefront-1 |", "storefront-3 |"):
            assert name in output, name
        owner = mergepoint(env, "db", "url").strip()
        base = f"http://127.0.0.1:{shop_port}"

        with psycopg.connect(to_libpq(with_user(owner, "backoffice")), autocommit=True) as bo:
            (pid,) = bo.execute(
                "INSERT INTO shop.products (sku, name, price_cents) VALUES ('LAST-50', 'Last',"
                " 999) RETURNING id"
            ).fetchone()
            bo.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                " VALUES (%s, %s, 'restock')",
                [pid, UNITS],
            )

        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        with httpx.Client(timeout=60, limits=limits) as http:
            buyers = register_customers(http, base, CLIENTS, workers=16)

            config = pooler.load(data_dir / pooler.DIRNAME)
            assert config is not None and config.pool_size == POOL_SIZE
            servers: list[int] = []
            clients: list[int] = []
            done = threading.Event()

            def sample() -> None:
                password = pooler.console_password(config.directory)
                with pooler.console(config, password) as console:
                    while not done.is_set():
                        # The pooler's own server connections for the storefront (its event
                        # consumer and queue worker connect directly, by design).
                        servers.append(
                            sum(1 for c in pooler.show(console, "SERVERS")
                                if c["user"] == "storefront")
                        )  # fmt: skip
                        clients.append(
                            sum(1 for c in pooler.show(console, "CLIENTS")
                                if c["user"] == "storefront")
                        )  # fmt: skip
                        time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            order = {"lines": [{"sku": "LAST-50", "quantity": 1}]}

            def buy(i: int) -> Call:
                return call(http, "order", "POST", f"{base}/api/orders", json=order,
                            headers=buyers[i].headers)  # fmt: skip

            try:
                calls = race(CLIENTS, buy)
            finally:
                done.set()
                sampler.join()

        assert all(isinstance(c, Call) for c in calls), calls
        assert not [c for c in calls if c.server_error], summary(calls)
        assert Counter((c.status, c.code) for c in calls) == {
            (201, None): UNITS,
            (409, "insufficient_stock"): CLIENTS - UNITS,
        }
        print(f"\nstorefront clients of the pooler: max {max(clients)};"
              f" server connections: max {max(servers)} (pool size {POOL_SIZE})")  # fmt: skip
        assert max(servers) <= POOL_SIZE
        assert max(clients) > POOL_SIZE  # more clients than server connections

        with psycopg.connect(to_libpq(owner)) as conn:
            stock, sold = conn.execute(
                "SELECT p.stock, (SELECT -sum(delta) FROM shop.stock_movements m"
                "  WHERE m.product_id = p.id AND reason = 'sale')"
                " FROM shop.products p WHERE sku = 'LAST-50'"
            ).fetchone()
        assert (stock, sold) == (0, UNITS)  # nothing oversold

        # The audit runs on the replica (the report's URL leads there), once caught up.
        reporting = exports(mergepoint(env, "env"))["REPORTING_DATABASE_URL"]
        assert reporting == replica.role_url(data_dir, "reporting", "mergepoint")
        replica.wait_caught_up(owner, replica.role_url(data_dir, "mergepoint", "mergepoint"))
        audit = mergepoint(env, "report", "run", "ledger_audit", "--format", "json")
        assert json.loads(audit) == []
    finally:
        code = up.end()
    assert code == 0, "\n".join(up.lines)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert alive == [], alive  # the pooler and the replica stopped with the apps
