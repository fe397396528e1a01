"""The outbox (alembic 0005): written by the database in the business transaction, read in
commit order through events.poll/ack, never skipping, never twice to two workers.

Delivery is asserted with a deadline or directly, never as a latency (bench/events.py
measures that).
"""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import errors

from schema import events
from schema.cli import main
from tests.concurrency import race

STOREFRONT = "storefront-notifications"
BACKOFFICE = "backoffice-feed"


def outbox(shop, topic: str | None = None) -> list[tuple]:
    query = "SELECT id, topic, aggregate_id, payload, actor FROM events.outbox"
    params: list[object] = []
    if topic:
        query += " WHERE topic = %s"
        params.append(topic)
    return shop.conn.execute(query + " ORDER BY txid, id", params).fetchall()


def poll(conn: psycopg.Connection, consumer: str, limit: int = 100) -> list[tuple]:
    return conn.execute(
        "SELECT id, txid::text, topic, aggregate_id FROM events.poll(%s, %s)", [consumer, limit]
    ).fetchall()


def ack(conn: psycopg.Connection, consumer: str, batch: list[tuple]) -> None:
    conn.execute("SELECT events.ack(%s, %s::xid8, %s)", [consumer, batch[-1][1], batch[-1][0]])


def drain(conn: psycopg.Connection, consumer: str, expect: int = 0, deadline: float = 30) -> list:
    """Batches until ``expect`` events came (committed batch by batch), or nothing more is
    deliverable when expecting none. Any transaction on the server (another test's
    included) may hold delivery back for a while: so a deadline, never a latency."""
    seen: list[tuple] = []
    end = time.monotonic() + deadline
    while True:
        with conn.transaction():
            batch = poll(conn, consumer)
            if batch:
                ack(conn, consumer, batch)
        seen += batch
        if not batch and len(seen) >= expect:
            return seen
        assert time.monotonic() < end, f"only {len(seen)} of {expect} events delivered in time"
        if not batch:
            time.sleep(0.02)


def test_a_placed_order_carries_its_final_lines_and_total(shop):
    tea, mug = shop.product(price=450, stock=5), shop.product(price=1200, stock=5)
    customer = shop.customer()
    with shop.connection("storefront").transaction():
        shop.connection("storefront").execute(
            "SELECT set_config('mergepoint.actor', %s, true)", [f"storefront:customer:{customer}"]
        )
        oid = shop.order({tea: 2, mug: 1}, customer=customer)
    [(_id, topic, aggregate, payload, actor)] = outbox(shop, "order.placed")
    assert (topic, aggregate, actor) == ("order.placed", oid, f"storefront:customer:{customer}")
    assert payload["total_cents"] == 2 * 450 + 1200 and payload["customer_id"] == customer
    assert [(line["product_id"], line["quantity"], line["unit_price_cents"])
            for line in payload["lines"]] == [(tea, 2, 450), (mug, 1, 1200)]  # fmt: skip


def test_a_rolled_back_order_emits_nothing(shop):
    pid = shop.product(stock=5)
    conn = shop.connection("storefront")
    with pytest.raises(errors.CheckViolation), conn.transaction():
        oid = conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [shop.customer()]
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, 9)",
            [oid, pid],
        )  # insufficient_stock: the whole order rolls back
    with conn.transaction(force_rollback=True):
        shop.order({pid: 1}, conn=conn)  # placed, then rolled back by the caller
    assert outbox(shop) == []


def test_set_constraints_immediate_cannot_emit_an_order_without_its_lines(shop):
    pid = shop.product(stock=5)
    conn = shop.connection("storefront")
    with pytest.raises(errors.CheckViolation) as refused, conn.transaction():
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        oid = conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [shop.customer()]
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, 1)",
            [oid, pid],
        )
    assert refused.value.diag.message_primary == "order_has_no_lines"
    # Deferred as designed, the same order commits with its line and its event.
    oid = shop.order({pid: 1})
    assert [row[2] for row in outbox(shop, "order.placed")] == [oid]
    with pytest.raises(errors.CheckViolation) as late:  # and takes no line afterwards
        conn.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, 1)",
            [oid, shop.product(stock=1)],
        )
    assert late.value.diag.message_primary == "order_already_placed"


def test_status_changes_price_changes_and_low_stock_become_events(shop):
    shop.conn.execute("UPDATE shop.settings SET low_stock_threshold = 3")
    pid = shop.product(price=100, stock=5)
    paid = shop.order({pid: 1}, status="shipped")  # stock 4: not low yet
    cancelled = shop.order({pid: 1}, status="cancelled")  # 3, then back to 4
    shop.order({pid: 2})  # 2: low (crossed)
    shop.order({pid: 1})  # 1: still low, no second alert
    shop.set_price(pid, 150)
    topics = [(row[1], row[2]) for row in outbox(shop) if row[1] != "order.placed"]
    assert topics == [
        ("order.paid", paid),
        ("order.shipped", paid),
        ("stock.low", pid),  # the cancelled order's line took it to 3 ...
        ("order.cancelled", cancelled),
        ("stock.low", pid),  # ... which came back; then 2 crossed again
        ("product.price_changed", pid),
    ]
    low = outbox(shop, "stock.low")[-1][3]
    assert (low["stock"], low["threshold"], low["product_id"]) == (2, 3, pid)
    shipped = outbox(shop, "order.shipped")[0]
    assert shipped[3]["previous_status"] == "paid" and shipped[4] == "backoffice"


def test_a_consumer_reads_from_where_its_subscription_was_created(shop):
    shop.order({shop.product(stock=5): 1}, status="paid")
    # The template's subscription (created when it was built) sees it.
    assert [r[2] for r in drain(shop.connection("storefront"), STOREFRONT, 1)] == ["order.paid"]
    shop.conn.execute(
        "INSERT INTO events.subscriptions (consumer, role_name, topics)"
        " VALUES ('late-joiner', %s, '{order.paid}')",
        [shop.database.prefix + "storefront"],
    )
    shop.order({shop.product(stock=5): 1}, status="paid")
    assert len(drain(shop.connection("storefront"), "late-joiner", 1)) == 1


def test_an_open_transaction_delays_delivery_and_loses_nothing(fresh_db, shop):
    pid, other = shop.product(price=100), shop.product(price=100)
    with fresh_db.connect("backoffice") as slow:
        slow.execute("UPDATE shop.products SET price_cents = 101 WHERE id = %s", [pid])  # open
        shop.set_price(other, 102)  # a later transaction commits first
        consumer = shop.connection("storefront")
        shop.conn.execute(
            "INSERT INTO events.subscriptions (consumer, role_name, topics, cursor_txid)"
            " VALUES ('prices', %s, '{product.price_changed}', '1')",
            [shop.database.prefix + "storefront"],
        )
        assert drain(consumer, "prices") == []  # the open transaction holds the horizon
        slow.commit()
    delivered = drain(consumer, "prices", 2)
    assert [r[3] for r in delivered] == [pid, other]  # commit-safe order: (txid, id)


def test_two_workers_of_one_consumer_never_take_the_same_batch(fresh_db, shop):
    pid = shop.product(price=100)
    for price in range(101, 161):
        shop.set_price(pid, price)
    shop.conn.execute(
        "INSERT INTO events.subscriptions (consumer, role_name, topics, cursor_txid)"
        " VALUES ('pair', %s, '{product.price_changed}', '1')",
        [fresh_db.prefix + "storefront"],
    )
    taken: list[list[int]] = [[], []]
    overlaps: list[str] = []
    busy = threading.Lock()
    end = time.monotonic() + 60

    def work(i: int) -> None:
        with fresh_db.connect("storefront") as conn:
            while len(taken[0]) + len(taken[1]) < 60 and time.monotonic() < end:
                with conn.transaction():
                    batch = poll(conn, "pair", limit=7)
                    if batch:
                        if not busy.acquire(blocking=False):
                            overlaps.append(f"worker {i} got a batch while another held one")
                        else:
                            time.sleep(0.005)  # hold the batch: the other must get nothing
                            busy.release()
                        ack(conn, "pair", batch)
                        taken[i] += [row[0] for row in batch]
                time.sleep(0.01)  # a window for the other worker, even on a loaded machine

    results = race(2, work)
    assert all(r is None for r in results), results
    assert overlaps == []
    everything = [r[0] for r in outbox(shop, "product.price_changed")]
    assert sorted(taken[0] + taken[1]) == sorted(everything)  # each once, none lost
    assert taken[0] and taken[1], "both workers should have taken batches"


@pytest.mark.slow
def test_commit_order_consumption_never_skips_where_an_id_cursor_does(fresh_db, shop):
    """Writers hold their transactions open for random times; the subscription sees every
    event once, in its cursor order, while a naive `id > last` reader misses some."""
    products = [shop.product(price=100) for _ in range(4)]
    shop.conn.execute(
        "INSERT INTO events.subscriptions (consumer, role_name, topics, cursor_txid)"
        " VALUES ('race', %s, '{product.price_changed}', '1')",
        [fresh_db.prefix + "storefront"],
    )
    per_writer, writers = 1250, 4
    done = threading.Event()
    consumed: list[tuple[str, int]] = []
    naive: list[int] = []

    def write(i: int) -> None:
        rng = random.Random(i)
        with fresh_db.connect("backoffice") as conn:
            for n in range(per_writer):
                with conn.transaction():
                    conn.execute(
                        "UPDATE shop.products SET price_cents = %s WHERE id = %s",
                        [200 + n, products[i]],
                    )
                    if rng.random() < 0.3:
                        time.sleep(rng.random() * 0.004)

    def consume() -> None:
        end = time.monotonic() + 240
        with fresh_db.connect("storefront") as conn:
            while len(consumed) < per_writer * writers and time.monotonic() < end:
                with conn.transaction():
                    batch = poll(conn, "race", limit=500)
                    if batch:
                        ack(conn, "race", batch)
                consumed.extend((row[1], row[0]) for row in batch)

    def read_naively() -> None:
        last = 0
        with fresh_db.connect(autocommit=True) as conn:
            while not done.is_set():
                for (event_id,) in conn.execute(
                    "SELECT id FROM events.outbox WHERE id > %s ORDER BY id", [last]
                ).fetchall():
                    naive.append(event_id)
                    last = event_id

    readers = [threading.Thread(target=consume), threading.Thread(target=read_naively)]
    for t in readers:
        t.start()
    try:
        assert all(r is None for r in race(writers, write, timeout=300))
    finally:
        done.set()
        for t in readers:
            t.join(120)
    everything = {r[0] for r in outbox(shop, "product.price_changed")}
    assert len(everything) == per_writer * writers
    ids = [event_id for _, event_id in consumed]
    assert len(ids) == len(set(ids)) and set(ids) == everything  # every event exactly once
    keys = [(int(txid), event_id) for txid, event_id in consumed]
    assert keys == sorted(keys)  # in the cursor's (txid, id) order
    missed = everything - set(naive)
    assert missed, "the naive id cursor should have skipped events committed out of id order"
    print(f"\nnaive id cursor missed {len(missed)} of {len(everything)} events")


def test_mergepoint_events_status_prune_and_replay(fresh_db, shop):
    pid = shop.product(stock=5)
    oid = shop.order({pid: 1}, status="paid")
    env = fresh_db.env()

    def cli(*args: str):
        return CliRunner().invoke(main, ["events", *args], env=env)

    status = cli("status")
    assert status.exit_code == 0, status.output
    assert f"{STOREFRONT} ({fresh_db.prefix}storefront): cursor" in status.output
    assert "1 behind" in status.output.split(STOREFRONT)[1].splitlines()[0]
    assert cli("status", "--max-age", "0s").exit_code == 1  # behind: monitoring fails
    drain(shop.connection("storefront"), STOREFRONT, 1)
    drain(shop.connection("backoffice"), BACKOFFICE, 1)
    drain(shop.connection("backoffice"), "backoffice-sales", 2)  # placed, paid
    assert cli("status", "--max-age", "0s").exit_code == 0

    assert cli("prune", "--older-than", "30d").output.strip().startswith("pruned 0 event(s)")
    shop.conn.execute("UPDATE events.outbox SET created_at = now() - interval '40 days'")
    assert [row[1] for row in outbox(shop)] == ["order.placed", "order.paid"]
    shop.conn.execute(  # a consumer of order.paid that never read: prune keeps its events
        "INSERT INTO events.subscriptions (consumer, role_name, topics, cursor_txid)"
        " VALUES ('asleep', %s, '{order.paid}', '1')",
        [fresh_db.prefix + "storefront"],
    )
    assert cli("prune", "--older-than", "30d").output.startswith("pruned 1 event(s)")
    assert [row[1] for row in outbox(shop)] == ["order.paid"]
    shop.conn.execute("DELETE FROM events.subscriptions WHERE consumer = 'asleep'")
    pruned = cli("prune", "--older-than", "30d")
    assert pruned.output.startswith("pruned 1 event(s)"), pruned.output
    assert outbox(shop) == []

    shop.set_status(shop.order({pid: 1}), "paid")
    first = drain(shop.connection("storefront"), STOREFRONT, 1)
    replayed = cli("replay", STOREFRONT, "--from-id", str(first[0][0]))
    assert replayed.exit_code == 0, replayed.output
    assert drain(shop.connection("storefront"), STOREFRONT, 1) == first
    bad = cli("replay", "nobody", "--from-id", "1")
    assert bad.exit_code == 1 and "no subscription 'nobody'" in bad.output
    assert cli("prune", "--older-than", "a while").exit_code == 1
    assert oid


def test_check_reports_a_subscription_to_an_undeclared_topic_or_a_role_that_may_not_poll(
    fresh_db, owner
):
    description = {
        "name": "storefront",
        "role": "storefront",
        "subscriptions": [{"name": STOREFRONT, "topics": ["order.paid", "order.teleported"]}],
    }
    owner.execute(
        f"REVOKE EXECUTE ON FUNCTION events.poll(text,integer) FROM {fresh_db.prefix}storefront"
    )
    problems = events.check(owner, fresh_db.prefix, description)
    assert f"subscription {STOREFRONT} takes undeclared topic order.teleported" in problems
    assert f"role {fresh_db.prefix}storefront may not call events.poll" in problems
