"""Faults under load: backends killed, the database stopped and started again.

Only requests in flight when the fault hits may fail, each with the one JSON error shape
(503 database_unavailable, never an HTML page or a 500), and the storefront recovers by
itself: no restart, no partial order.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from schema import db, migrations, roles, servers, stack
from tests.data import Shop
from tests.harness import Database
from tests.reliability.conftest import (
    ROOT,
    STOREFRONT_WSGI,
    Call,
    assert_no_traceback,
    assert_shop_is_whole,
    call,
    gunicorn,
    minimal_env,
    register_customers,
    storefront_env,
    summary,
)

pytestmark = pytest.mark.slow

UNAVAILABLE = (503, "database_unavailable")


def assert_unavailable(c: Call) -> None:
    assert c.is_json and (c.status, c.code) == UNAVAILABLE, c
    assert c.body["error"]["message"]


# --- pg_terminate_backend ------------------------------------------------------------------

KILL_ROUNDS = 4
KILL_EVERY = 1.5  # seconds
BUYERS = 10
# A backend dies shortly after pg_terminate_backend returns: a request that started just
# after the call may still have met its connection alive and then dead.
GRACE = 0.5
LINES = [{"sku": sku, "quantity": 1} for sku in ("KILL-A", "KILL-B", "KILL-C")]


@pytest.mark.parametrize("storefront", servers.NAMES, indirect=True)
def test_killed_backends_fail_only_requests_in_flight_and_no_order_is_partial(
    pg, fresh_db, owner, shop, storefront, http
):
    for sku in ("KILL-A", "KILL-B", "KILL-C"):
        shop.product(sku, price=300, stock=100_000)
    buyers = register_customers(http, storefront.base, BUYERS)
    storefront_role = roles.role_name(pg.prefix, "storefront")
    kills: list[tuple[float, float, int]] = []  # (start, end, backends terminated)
    attempts: list[tuple[str, Call]] = []  # (idempotency key, call)
    lock = threading.Lock()
    stop = threading.Event()

    def buyer(i: int) -> None:
        # Each order carries an Idempotency-Key; a failed attempt is retried with it, as a
        # client should: the retry must find the order placed once, or place it.
        n = 0
        while not stop.is_set():
            n += 1
            key = f"b{i}-{n}-{secrets.token_hex(4)}"
            for _ in range(5):
                c = call(http, "order", "POST", f"{storefront.base}/api/orders",
                         json={"lines": LINES},
                         headers={**buyers[i].headers, "Idempotency-Key": key})  # fmt: skip
                with lock:
                    attempts.append((key, c))
                if c.status in (200, 201):
                    break

    def killer() -> None:
        with pg.admin() as admin:
            for _ in range(KILL_ROUNDS):
                if stop.wait(KILL_EVERY):
                    return
                start = time.monotonic()
                killed = admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity WHERE datname = %s AND usename = %s",
                    [fresh_db.name, storefront_role],
                ).fetchone()[0]
                kills.append((start, time.monotonic(), killed))

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(BUYERS)]
    kill_thread = threading.Thread(target=killer)
    for t in [*threads, kill_thread]:
        t.start()
    try:
        kill_thread.join(60)
        time.sleep(KILL_EVERY)  # and a quiet while after the last kill
    finally:
        stop.set()
        for t in [*threads, kill_thread]:
            t.join(60)

    calls = [c for _, c in attempts]
    assert len(kills) == KILL_ROUNDS and all(n > 0 for _, _, n in kills), kills
    failed = [c for c in calls if c.status not in (200, 201)]
    for c in failed:
        assert_unavailable(c)  # a JSON 503, never a 500 or an HTML page
        in_flight = any(c.start <= end + GRACE and c.end >= start for start, end, _ in kills)
        assert in_flight, (c, kills)
    print(f"\nkilled backends: {[n for _, _, n in kills]}; {len(calls)} attempts, "
          f"{len(failed)} failed in flight; {summary(calls)}")  # fmt: skip

    # Every key ended in one order (a retry after a commit whose answer was lost replays it).
    final: dict[str, Call] = {}
    for key, c in attempts:
        final[key] = c
    assert all(c.status in (200, 201) for c in final.values()), summary(list(final.values()))
    order_ids = {c.body["id"] for c in final.values()}
    assert len(order_ids) == len(final)
    stored = owner.execute(
        "SELECT count(*), count(*) FILTER (WHERE id = ANY(%s)) FROM shop.orders", [list(order_ids)]
    ).fetchone()
    assert stored == (len(final), len(final))
    per_order = owner.execute(
        "SELECT count(*) FROM shop.orders o WHERE (SELECT count(*) FROM shop.order_lines l"
        " WHERE l.order_id = o.id) <> 3"
    ).fetchone()
    assert per_order == (0,)
    assert_shop_is_whole(fresh_db, owner)

    # The next requests all succeed, on connections the pool replaced by itself.
    after = [
        call(http, "order", "POST", f"{storefront.base}/api/orders", json={"lines": LINES},
             headers=buyers[i].headers)
        for i in range(BUYERS)
    ]  # fmt: skip
    assert [c.status for c in after] == [201] * BUYERS, summary(after)


# --- the database stopped and started ------------------------------------------------------


def mergepoint_db(data_dir: Path, action: str) -> str:
    """``mergepoint db start|stop`` for the embedded server in ``data_dir`` (own process)."""
    env = minimal_env(MERGEPOINT_DATA_DIR=str(data_dir))
    result = subprocess.run(
        [sys.executable, "-m", "schema.cli", "db", action],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def own_server():
    """An embedded PostgreSQL of this test's own (it gets stopped: never the shared one)."""
    # A short path: the unix socket lives in the data directory.
    directory = Path(tempfile.mkdtemp(prefix="mp-rel-"))
    try:
        started = mergepoint_db(directory, "start")
        owner_url = re.fullmatch(r"started: (\S+)", started).group(1)
        yield directory, owner_url
    finally:
        try:
            mergepoint_db(directory, "stop")
        finally:
            shutil.rmtree(directory, ignore_errors=True)


RECOVERY_LIMIT = 5.0  # seconds from the server being back to the first order placed


def test_database_stopped_readyz_is_503_then_the_storefront_recovers_by_itself(
    own_server, tmp_path, http
):
    # Under the server mergepoint up runs: recovery is the app's pool and readiness, the
    # same under either server (killed backends above run under both).
    server = servers.DEFAULT
    directory, owner_url = own_server
    prefix = f"r{secrets.token_hex(3)}_"
    migrations.upgrade(owner_url)
    roles.reconcile(owner_url, prefix)
    url = db.role_urls(owner_url, prefix)["storefront"]
    stack.run_app_migrations({"storefront": stack.app_env("storefront", url)})
    shop = Shop(Database("own", owner_url, prefix))
    shop.product("BACK-1", price=700, stock=1000)
    shop.close()

    order = {"lines": [{"sku": "BACK-1", "quantity": 1}]}
    with gunicorn(STOREFRONT_WSGI, storefront_env(url), tmp_path / "sf.log", probe="/readyz",
                  threads=4, server=server) as storefront:  # fmt: skip
        base = storefront.base
        (customer,) = register_customers(http, base, 1)

        def place() -> Call:
            return call(http, "order", "POST", f"{base}/api/orders", json=order,
                        headers=customer.headers)  # fmt: skip

        assert place().status == 201

        assert mergepoint_db(directory, "stop") == "stopped"
        down = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            down += [
                call(http, "readyz", "GET", f"{base}/readyz"),
                call(http, "order", "POST", f"{base}/api/orders", json=order,
                     headers=customer.headers),
                call(http, "products", "GET", f"{base}/api/products"),
            ]  # fmt: skip
            healthz = call(http, "healthz", "GET", f"{base}/healthz")
            assert (healthz.status, healthz.body) == (200, {"status": "ok"})
        for c in down:
            assert_unavailable(c)
            assert c.seconds < 2, c  # refused at once, not hanging on a dead socket
        print(f"\nwhile down: {summary(down)}, slowest {max(c.seconds for c in down):.3f}s")

        assert mergepoint_db(directory, "start").startswith("started: ")
        back = time.monotonic()
        while (c := place()).status != 201:
            assert_unavailable(c)
            assert time.monotonic() - back < RECOVERY_LIMIT, "no recovery"
            time.sleep(0.05)
        recovered = time.monotonic() - back
        ready = call(http, "readyz", "GET", f"{base}/readyz")
        assert (ready.status, ready.body) == (200, {"status": "ready"})
        assert [place().status for _ in range(5)] == [201] * 5
        print(f"recovered {recovered:.3f}s after the server was back")
    assert_no_traceback(storefront)

    with db.connect(owner_url, autocommit=True) as conn:
        counts = conn.execute(
            "SELECT count(*), (SELECT count(*) FROM shop.order_lines),"
            " (SELECT stock FROM shop.products WHERE sku = 'BACK-1') FROM shop.orders"
        ).fetchone()
        orders = counts[0]
        assert counts == (orders, orders, 1000 - orders)
        assert conn.execute("SELECT count(*) FROM reporting.ledger_audit").fetchone() == (0,)
