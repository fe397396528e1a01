"""The pooler killed under load: both apps answer 503 (JSON, a page), never a traceback,
and recover by themselves when it is back."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from schema import pooler
from schema.registry import POOLED_ROLES
from tests.harness import Pooler
from tests.reliability.conftest import (
    BACKOFFICE_WSGI,
    STOREFRONT_WSGI,
    Call,
    admin_login,
    assert_no_traceback,
    assert_shop_is_whole,
    backoffice_env,
    call,
    gunicorn,
    make_clerk,
    register_customers,
    storefront_env,
    summary,
)
from tests.support import free_port

pytestmark = pytest.mark.slow

BUYERS = 4
BEFORE, OUTAGE, AFTER = 1.5, 2.0, 2.0  # seconds of load before, during and after
RECOVERY_LIMIT = 10.0  # from the pooler being back to a request served (a loaded machine)


@pytest.fixture
def own_pooler(pg, pgbouncer, foreign_tmp):
    """A PgBouncer of this test's own (it gets killed: never the session's), for the same
    roles and passwords."""
    users = [pg.prefix + role for role in POOLED_ROLES]
    config = pooler.config_for(
        pg.owner_url, foreign_tmp / "data", users, port=free_port(), any_database=True
    )
    pooler.start(config, pgbouncer.credentials)
    try:
        yield Pooler(config, pgbouncer.credentials)
    finally:
        pooler.stop(config.directory)


def test_the_pooler_killed_mid_load_is_a_503_and_both_apps_recover(
    fresh_db, own_pooler, shop, tmp_path
):
    shop.product("POOL-1", price=300, stock=100_000)
    clerk, password = make_clerk(fresh_db)
    sf_env = storefront_env(own_pooler.url(fresh_db, "storefront"))
    bo_env = backoffice_env(own_pooler.url(fresh_db, "backoffice"))
    calls: list[Call] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(c: Call) -> None:
        with lock:
            calls.append(c)

    with (
        gunicorn(STOREFRONT_WSGI, sf_env, tmp_path / "sf.log", probe="/readyz") as storefront,
        gunicorn(BACKOFFICE_WSGI, bo_env, tmp_path / "bo.log", probe="/admin/login/",
                 threads=4) as backoffice,
        httpx.Client(timeout=30) as http,
    ):  # fmt: skip
        buyers = register_customers(http, storefront.base, BUYERS)
        order = {"lines": [{"sku": "POOL-1", "quantity": 1}]}

        def buyer(i: int) -> None:
            while not stop.is_set():
                record(call(http, "order", "POST", f"{storefront.base}/api/orders",
                            json=order, headers=buyers[i].headers))  # fmt: skip

        # Logged in before the load: a login is a session write, which Django turns into a
        # 400 ("session deleted") when the database fails under it; reading pages is not.
        office = httpx.Client(timeout=30)
        admin_login(office, backoffice.base, clerk, password)

        def staff() -> None:
            while not stop.is_set():
                record(call(office, "orders page", "GET",
                            f"{backoffice.base}/admin/backoffice/order/"))  # fmt: skip
                time.sleep(0.02)

        threads = [threading.Thread(target=buyer, args=(i,)) for i in range(BUYERS)]
        threads.append(threading.Thread(target=staff))
        for t in threads:
            t.start()
        try:
            time.sleep(BEFORE)
            pid = pooler.running_pid(own_pooler.config.directory)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            time.sleep(OUTAGE)
            restarting = time.monotonic()
            assert pooler.start(own_pooler.config, own_pooler.credentials)
            back = time.monotonic()
            time.sleep(AFTER)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
            office.close()

        seen = summary(calls)
        print(f"\npooler killed for {back - killed:.1f}s: {seen}")
        for c in calls:
            assert c.status is not None, c  # always an answer
            if c.what == "order":
                assert (c.status, c.code) in ((201, None), (503, "database_unavailable")), c
            else:
                assert c.status in (200, 503), c
                if c.status == 503:
                    assert c.content_type.startswith("text/html"), c
        for what in ("order", "orders page"):
            # Requests made while it was down (a moment after the kill, to let requests
            # already in flight finish either way) were all refused.
            outage = [
                c for c in calls if c.what == what and c.start > killed + 0.1 and c.end < restarting
            ]
            assert outage and all(c.status == 503 for c in outage), (what, seen)
            served = [c.end for c in calls if c.what == what and c.start > back and c.status < 500]
            assert served and min(served) - back < RECOVERY_LIMIT, (what, seen)
            late = [c for c in calls if c.what == what and c.start > back + RECOVERY_LIMIT]
            assert all(c.status < 500 for c in late), (what, seen)
        # Both apps went on through the same pooler, without a restart.
        assert storefront.process.poll() is None and backoffice.process.poll() is None
    assert_no_traceback(storefront)
    assert_no_traceback(backoffice)
    with fresh_db.connect(autocommit=True) as owner:
        assert_shop_is_whole(fresh_db, owner)
