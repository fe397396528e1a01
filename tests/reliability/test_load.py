"""Both apps under gunicorn, hammered over HTTP: nothing oversold, nothing lost, no 5xx."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import httpx
import pytest

from tests.concurrency import race
from tests.data import ACTOR
from tests.reliability.conftest import (
    Call,
    admin_login,
    assert_shop_is_whole,
    call,
    csrf_token,
    make_clerk,
    register_customers,
    summary,
)

pytestmark = pytest.mark.slow


def test_two_hundred_buyers_of_twenty_units_buy_exactly_twenty(
    fresh_db, owner, shop, storefront, http
):
    pid = shop.product("LAST-20", price=1999, stock=20)
    buyers = register_customers(http, storefront.base, 200)
    order = {"lines": [{"sku": "LAST-20", "quantity": 1}]}

    def buy(i: int) -> Call:
        url = f"{storefront.base}/api/orders"
        return call(http, "order", "POST", url, json=order, headers=buyers[i].headers)

    calls = race(200, buy)
    assert all(isinstance(c, Call) for c in calls), [c for c in calls if not isinstance(c, Call)]
    assert not [c for c in calls if c.server_error], summary(calls)
    assert Counter((c.status, c.code) for c in calls) == {
        (201, None): 20,
        (409, "insufficient_stock"): 180,
    }
    stock, ledger = owner.execute(
        "SELECT p.stock, (SELECT sum(delta) FROM shop.stock_movements WHERE product_id = p.id)"
        " FROM shop.products p WHERE p.id = %s",
        [pid],
    ).fetchone()
    assert (stock, ledger) == (0, 0)
    orders = owner.execute(
        "SELECT count(DISTINCT o.id), count(DISTINCT o.customer_id), sum(l.quantity)"
        " FROM shop.orders o JOIN shop.order_lines l ON l.order_id = o.id"
    ).fetchone()
    assert orders == (20, 20, 20)  # twenty buyers, one unit each
    sales = owner.execute(
        "SELECT count(*) FROM shop.stock_movements WHERE reason = 'sale' AND product_id = %s",
        [pid],
    ).fetchone()
    assert sales == (20,)
    assert_shop_is_whole(fresh_db, owner)


MIXED_SECONDS = 8.0  # every kind of action happens many times over in this
SKUS = ("MIX-A", "MIX-B", "MIX-C", "MIX-D")
SHOPPERS = 6
CLERKS = 2


def test_mixed_load_of_both_apps_on_the_same_rows_keeps_the_ledger_whole(
    fresh_db, owner, shop, storefront, backoffice, http
):
    """Customers order and cancel while clerks restock, ship and cancel the same orders."""
    pids = {sku: shop.product(sku, price=250 * (i + 1), stock=12) for i, sku in
            enumerate(SKUS)}  # fmt: skip
    customers = register_customers(http, storefront.base, SHOPPERS)
    clerk, password = make_clerk(fresh_db)
    shop, office = storefront.base, backoffice.base
    placed: list[int] = []
    calls: list[Call] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(c: Call) -> Call:
        with lock:
            calls.append(c)
        return c

    def shopper(i: int) -> None:
        rng = random.Random(i)
        customer = customers[i]
        mine: list[int] = []
        while not stop.is_set():
            if mine and rng.random() < 0.3:
                oid = mine.pop(rng.randrange(len(mine)))
                url = f"{shop}/api/orders/{oid}/cancel"
                record(call(http, "shop cancel", "POST", url, headers=customer.headers))
                continue
            lines = [{"sku": s, "quantity": rng.randint(1, 3)} for s in
                     rng.sample(SKUS, rng.randint(1, 2))]  # fmt: skip
            c = record(
                call(http, "shop order", "POST", f"{shop}/api/orders", json={"lines": lines},
                     headers=customer.headers)
            )  # fmt: skip
            if c.status == 201:
                mine.append(c.body["id"])
                with lock:
                    placed.append(c.body["id"])

    def staff(i: int) -> None:
        rng = random.Random(1000 + i)
        with httpx.Client(timeout=60) as client:
            admin_login(client, office, clerk, password)
            token = csrf_token(client)

            def act(action: str, oid: int) -> Call:
                data = {"csrfmiddlewaretoken": token, "action": action,
                        "_selected_action": str(oid), "index": "0"}  # fmt: skip
                url = f"{office}/admin/backoffice/order/"
                return record(call(client, f"office {action}", "POST", url, data=data))

            while not stop.is_set():
                with lock:
                    recent = placed[-10:]
                roll = rng.random()
                if roll < 0.3 or not recent:
                    pid = pids[rng.choice(SKUS)]
                    data = {"csrfmiddlewaretoken": token, "quantity": str(rng.randint(4, 10)),
                            "restock": "Restock"}  # fmt: skip
                    url = f"{office}/admin/backoffice/product/restock/?ids={pid}"
                    record(call(client, "office restock", "POST", url, data=data))
                elif roll < 0.55:
                    act("cancel", rng.choice(recent))
                else:
                    oid = rng.choice(recent)
                    act("mark_paid", oid)
                    act("ship", oid)

    threads = [threading.Thread(target=shopper, args=(i,)) for i in range(SHOPPERS)]
    threads += [threading.Thread(target=staff, args=(i,)) for i in range(CLERKS)]
    for t in threads:
        t.start()
    try:
        time.sleep(MIXED_SECONDS)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not any(t.is_alive() for t in threads)

    seen = summary(calls)
    assert not [c for c in calls if c.server_error], seen
    expected = {
        "shop order": {(201, None), (409, "insufficient_stock")},
        "shop cancel": {(200, None), (409, "order_not_cancellable")},
        "office restock": {(302, None)},
        "office mark_paid": {(302, None)},
        "office ship": {(302, None)},
        "office cancel": {(302, None)},
    }
    for c in calls:
        assert (c.status, c.code) in expected[c.what], (c, seen)
    print("\nmixed load:", {f"{w} {s} {k or ''}".strip(): n for (w, s, k), n in seen.items()})

    # Every kind of action really happened, on the same rows, from both sides.
    actors = dict(
        owner.execute(
            "SELECT reason || ' by ' || split_part(actor, ':', 1), count(*)"
            " FROM shop.stock_movements WHERE reason IN ('restock', 'cancel') GROUP BY 1"
        ).fetchall()
    )
    statuses = dict(owner.execute("SELECT status, count(*) FROM shop.orders GROUP BY 1").fetchall())
    assert statuses.get("shipped", 0) > 0, statuses
    for kind in ("restock by backoffice", "cancel by backoffice", "cancel by storefront"):
        assert actors.get(kind, 0) > 0, actors
    # Who acted is recorded as such: a clerk's cancel names the clerk, as a restock does.
    named = owner.execute(
        "SELECT DISTINCT actor FROM shop.stock_movements WHERE actor LIKE 'backoffice:%'"
        " ORDER BY 1"
    ).fetchall()
    assert named == [(f"backoffice:{clerk}",), (f"backoffice:{ACTOR}",)]  # and the test's own
    assert_shop_is_whole(fresh_db, owner)
