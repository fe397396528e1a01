"""Races on the real database, started together on a barrier (tests/concurrency.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from apps.flask_app.shop import request_hash
from tests.concurrency import race
from tests.harness import through_pooler

# Every race runs twice: directly, and through PgBouncer in transaction mode.
pytestmark = [pytest.mark.slow, through_pooler]


@pytest.fixture
def app_config(storefront_url) -> dict[str, object]:
    # Enough connections for the threads to overlap in the database, within a shared
    # server's max_connections (through the pooler: more clients than its pool size).
    return {
        "DATABASE_URL": storefront_url,
        "POOL_SIZE": 5,
        "POOL_MAX_OVERFLOW": 25,
        "POOL_TIMEOUT": 30,
    }


def statuses(results) -> Counter:
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return Counter(r.status_code for r in results)


def test_fifty_buyers_of_the_last_ten_units_sell_exactly_ten(app, register, shop):
    tea = shop.product("TEA-1", price=450, stock=10)
    buyers = [register() for _ in range(50)]

    def buy(i: int):
        return app.test_client().post(
            "/api/orders",
            json={"lines": [{"sku": "TEA-1", "quantity": 1}]},
            headers=buyers[i].headers,
        )

    results = race(50, buy)
    assert statuses(results) == {201: 10, 409: 40}
    refused = [r.get_json()["error"] for r in results if r.status_code == 409]
    assert {e["code"] for e in refused} == {"insufficient_stock"}
    assert {e["details"]["sku"] for e in refused} == {"TEA-1"}
    assert shop.stock(tea) == 0
    assert shop.ledger_sum(tea) == 0
    assert shop.count("orders") == 10
    assert shop.count("order_lines") == 10


def test_concurrent_retries_with_one_idempotency_key_make_one_order(app, alice, shop):
    tea = shop.product("TEA-1", price=450, stock=100)
    mug = shop.product("MUG-1", price=1200, stock=100)
    headers = {**alice.headers, "Idempotency-Key": "checkout-7f3a"}
    body = {"lines": [{"sku": "TEA-1", "quantity": 2}, {"sku": "MUG-1", "quantity": 1}]}

    def retry(i: int):
        return app.test_client().post("/api/orders", json=body, headers=headers)

    results = race(20, retry)
    assert statuses(results) == {201: 1, 200: 19}
    assert {r.get_json()["id"] for r in results} == {results[0].get_json()["id"]}
    replayed = [r for r in results if r.status_code == 200]
    assert {r.headers["Idempotent-Replayed"] for r in replayed} == {"true"}
    assert shop.count("orders") == 1
    assert (shop.stock(tea), shop.stock(mug)) == (98, 99)


def test_concurrent_retries_after_a_failure_store_nothing(app, alice, shop):
    shop.product("MUG-1", price=1200, stock=1)
    headers = {**alice.headers, "Idempotency-Key": "too-many-mugs"}
    body = {"lines": [{"sku": "MUG-1", "quantity": 2}]}

    results = race(10, lambda i: app.test_client().post("/api/orders", json=body, headers=headers))
    assert statuses(results) == {409: 10}
    assert shop.count("orders") == 0


def test_two_concurrent_cancels_return_the_stock_once(app, client, alice, shop):
    tea = shop.product("TEA-1", price=450, stock=10)
    mug = shop.product("MUG-1", price=1200, stock=5)
    body = {"lines": [{"sku": "TEA-1", "quantity": 4}, {"sku": "MUG-1", "quantity": 5}]}
    order_id = client.post("/api/orders", json=body, headers=alice.headers).get_json()["id"]
    assert (shop.stock(tea), shop.stock(mug)) == (6, 0)

    def cancel(i: int):
        return app.test_client().post(f"/api/orders/{order_id}/cancel", headers=alice.headers)

    results = race(2, cancel)
    assert statuses(results) == {200: 1, 409: 1}
    loser = next(r for r in results if r.status_code == 409).get_json()["error"]
    assert loser["code"] == "order_not_cancellable"
    assert (shop.stock(tea), shop.stock(mug)) == (10, 5)
    assert (shop.ledger_sum(tea), shop.ledger_sum(mug)) == (10, 5)
    assert len(shop.order_movements(order_id, "cancel")) == 2


def test_a_token_never_reaches_another_customers_orders_under_load(app, register, shop):
    shop.product("TEA-1", price=450, stock=1000)
    accounts = [register() for _ in range(10)]

    def place_and_read(i: int):
        client = app.test_client()
        me = accounts[i]
        placed = client.post(
            "/api/orders", json={"lines": [{"sku": "TEA-1", "quantity": 1}]}, headers=me.headers
        ).get_json()
        mine = client.get("/api/orders", headers=me.headers).get_json()["items"]
        other = accounts[(i + 1) % len(accounts)]
        peek = client.get(f"/api/orders/{placed['id']}", headers=other.headers)
        return placed["id"], [o["id"] for o in mine], peek.status_code

    results = race(10, place_and_read)
    assert not [r for r in results if isinstance(r, BaseException)], results
    for order_id, mine, peek in results:
        assert mine == [order_id]
        assert peek == 404


@pytest.mark.parametrize("winner_commits", [True, False])
def test_a_retry_waiting_on_the_same_key_follows_the_first_attempt(
    app, database, alice, shop, winner_commits
):
    """Deterministic form of the retry race: the first attempt holds its uncommitted order
    (and so the key's unique index entry) while the retry arrives. The retry waits; if the
    first commits, the retry returns its order; if it fails, the retry places afresh."""
    tea = shop.product("TEA-1", price=450, stock=10)
    body = {"lines": [{"sku": "TEA-1", "quantity": 2}]}
    headers = {**alice.headers, "Idempotency-Key": "k-1"}
    digest = request_hash({"TEA-1": 2})
    with database.connect("storefront") as first:
        first_id = first.execute(
            "INSERT INTO shop.orders (customer_id, idempotency_key, request_hash)"
            " VALUES (%s, %s, %s) RETURNING id",
            [alice.id, "k-1", digest],
        ).fetchone()[0]
        first.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, 2)",
            [first_id, tea],
        )
        retry = threading.Thread(
            target=lambda: results.append(
                app.test_client().post("/api/orders", json=body, headers=headers)
            )
        )
        results: list = []
        retry.start()
        deadline = time.monotonic() + 10
        while not first.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
            assert time.monotonic() < deadline, "the retry never waited on the first attempt"
            time.sleep(0.01)
        if winner_commits:
            first.commit()
        else:
            first.rollback()
        retry.join(30)
    [response] = results
    if winner_commits:
        assert response.status_code == 200
        assert response.headers["Idempotent-Replayed"] == "true"
        assert response.get_json()["id"] == first_id
    else:
        assert response.status_code == 201
        assert response.get_json()["id"] != first_id
    assert shop.count("orders") == 1
    assert shop.stock(tea) == 8


def test_concurrent_registrations_with_one_email_make_one_customer(app, shop):
    def register(i: int):
        email = "Ada@Example.com" if i % 2 else "ada@example.com"
        return app.test_client().post("/api/customers", json={"email": email, "name": "Ada"})

    results = race(10, register)
    assert statuses(results) == {201: 1, 409: 9}
    assert (shop.count("customers"), shop.count("api_tokens")) == (1, 1)
