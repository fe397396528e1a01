"""The storefront's event consumer and GET /api/notifications.

The consumer runs as the real command (`flask --app apps.flask_app events consume`) or,
for the fine-grained cases, its batch function on a connection of the storefront's own.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time

import pytest

from apps.flask_app import events
from apps.flask_app.db import EXTENSION
from tests.flask_app.helpers import assert_error
from tests.support import Watched


def consume_all(app, expect: int, deadline: float = 30) -> list[events.Notice]:
    """Handle batches until ``expect`` notices were written (the horizon may hold some
    events back while another session's transaction runs: a deadline, not a latency)."""
    written: list[events.Notice] = []
    end = time.monotonic() + deadline
    while len(written) < expect:
        with app.extensions[EXTENSION].begin() as conn:
            count, new = events.handle_batch(conn)
        written += new
        assert time.monotonic() < end, f"{len(written)} of {expect} notices in time"
        if not count:
            time.sleep(0.02)
    return written


def place(client, account, sku: str) -> int:
    response = client.post(
        "/api/orders", json={"lines": [{"sku": sku, "quantity": 1}]}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_customers_hear_of_what_staff_did_and_not_of_their_own_cancels(
    app, client, alice, bob, shop
):
    shop.product("TEA-1", stock=10)
    shipped, staff_cancelled, own_cancel = (place(client, alice, "TEA-1") for _ in range(3))
    shop.set_status(shipped, "paid")
    shop.set_status(shipped, "shipped")
    shop.cancel(staff_cancelled, "backoffice")
    assert client.post(f"/api/orders/{own_cancel}/cancel", headers=alice.headers).status_code == 200
    notices = consume_all(app, 3)
    assert [(n.order_id, n.kind) for n in notices] == [
        (shipped, "paid"),
        (shipped, "shipped"),
        (staff_cancelled, "cancelled"),
    ]
    page = client.get("/api/notifications", headers=alice.headers).get_json()
    assert [(i["order_id"], i["kind"]) for i in page["items"]] == [
        (staff_cancelled, "cancelled"),
        (shipped, "shipped"),
        (shipped, "paid"),
    ]  # newest first; the customer's own cancel is not news to them
    assert client.get("/api/notifications", headers=bob.headers).get_json()["items"] == []


def test_notifications_page_by_keyset_and_need_a_token(app, client, alice, shop):
    shop.product("TEA-1", stock=10)
    for _ in range(5):
        shop.set_status(place(client, alice, "TEA-1"), "paid")
    consume_all(app, 5)
    first = client.get("/api/notifications?limit=2", headers=alice.headers).get_json()
    second = client.get(
        f"/api/notifications?limit=2&after={first['next']}", headers=alice.headers
    ).get_json()
    last = client.get(
        f"/api/notifications?limit=2&after={second['next']}", headers=alice.headers
    ).get_json()
    ids = [i["id"] for page in (first, second, last) for i in page["items"]]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True) and last["next"] is None
    assert_error(client.get("/api/notifications"), 401, "unauthorized")
    assert_error(client.get("/api/notifications?limit=0", headers=alice.headers), 422,
                 "validation_error")  # fmt: skip


def test_a_redelivered_batch_writes_nothing_twice(app, client, alice, shop, owner):
    shop.product("TEA-1", stock=10)
    shop.set_status(place(client, alice, "TEA-1"), "paid")
    assert len(consume_all(app, 1)) == 1
    owner.execute(  # the cursor back to the start: everything is delivered again
        "UPDATE events.subscriptions SET cursor_txid = '1', cursor_id = 0"
        " WHERE consumer = %s",
        [events.CONSUMER],
    )
    with app.extensions[EXTENSION].begin() as conn:
        count, written = events.handle_batch(conn)
    assert count >= 1 and written == []
    assert len(client.get("/api/notifications", headers=alice.headers).get_json()["items"]) == 1


class Consumer(Watched):
    """The consumer as a process of its own, as its users start it."""

    FLASK = ("-m", "flask", "--app", "apps.flask_app", "events", "consume")
    MODULE = ("-m", "apps.flask_app.events")

    def __init__(self, database, argv: tuple[str, ...] = FLASK, *args: str) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "STOREFRONT_DATABASE_URL": database.url("storefront"),
        }
        super().__init__([sys.executable, *argv, *args], env)


@pytest.mark.parametrize("argv", [Consumer.FLASK, Consumer.MODULE], ids=["flask", "module"])
def test_ctrl_c_stops_the_consumer_within_ten_seconds(database, argv):
    consumer = Consumer(database, argv)
    try:
        consumer.wait_for("events: consuming")
        started = time.monotonic()
        code = consumer.end(signal.SIGINT, timeout=10)
    finally:
        if consumer.process.poll() is None:
            consumer.end(signal.SIGKILL)
    assert code == 0 and time.monotonic() - started < 10
    out = "\n".join(consumer.lines)
    assert "events: stopped after" in out and "Traceback" not in out


@pytest.mark.slow
def test_a_consumer_killed_fifty_times_loses_nothing_and_writes_each_notice_once(
    database, app, client, shop
):
    """SIGKILL at random points while orders flow: 0 events lost, the notifications written
    exactly once, and an external effect (the log line) repeated at most one batch per
    kill (it happens after the commit)."""
    kills, batch = 50, 5
    shop.product("TEA-1", stock=100_000)
    customer = client.post(
        "/api/customers", json={"email": "k@example.com", "name": "K"}
    ).get_json()
    headers = {"Authorization": f"Bearer {customer['token']}"}
    stop = threading.Event()
    made: list[int] = []

    def orders_flow() -> None:
        with app.test_client() as flow:
            while not stop.is_set():
                response = flow.post(
                    "/api/orders", json={"lines": [{"sku": "TEA-1", "quantity": 1}]},
                    headers=headers,
                )  # fmt: skip
                order_id = response.get_json()["id"]
                shop.set_status(order_id, "paid")  # staff: a notification each
                made.append(order_id)
                time.sleep(0.005)

    flow = threading.Thread(target=orders_flow)
    flow.start()
    effects: list[str] = []
    rng = random.Random(7)
    def told(consumer: Consumer) -> list[str]:
        return [x for x in consumer.lines if x.startswith("notify customer")]

    try:
        for _ in range(kills):
            # Restarted often: the quick entry (the same consumer, without Flask's CLI).
            consumer = Consumer(database, Consumer.MODULE, "--batch", str(batch))
            try:
                consumer.wait_for("events: consuming")
                time.sleep(rng.random() * 0.15)
            finally:
                consumer.end(signal.SIGKILL)
            effects += told(consumer)
    finally:
        stop.set()
        flow.join(60)
    # A last, clean run catches up.
    consumer = Consumer(database, Consumer.MODULE, "--batch", str(batch))
    deadline = time.monotonic() + 60
    count = "SELECT count(*) FROM storefront.notifications"
    while shop.conn.execute(count).fetchone()[0] < len(made):
        assert time.monotonic() < deadline, "the consumer did not catch up"
        time.sleep(0.1)
    assert consumer.end(signal.SIGTERM) == 0
    effects += told(consumer)

    rows = shop.connection("storefront").execute(
        "SELECT order_id, kind FROM storefront.notifications ORDER BY order_id"
    ).fetchall()
    assert rows == [(order_id, "paid") for order_id in sorted(made)]  # once each, none lost
    told = {line.split("(event ")[1] for line in effects}
    assert len(told) == len(made)
    duplicates = len(effects) - len(told)
    assert duplicates <= kills * batch, duplicates
    print(f"\n{len(made)} orders, {kills} kills, {duplicates} repeated external effects")
