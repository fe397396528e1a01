"""Orders: place (one transaction, idempotent), list, show, cancel; the database keeps stock.

Placing, idempotency and cancelling run twice: directly and through PgBouncer (through_pooler).
"""

from __future__ import annotations

import pytest

from tests.flask_app.helpers import assert_error
from tests.harness import through_pooler


@pytest.fixture
def tea(shop) -> int:
    return shop.product("TEA-1", price=450, stock=10)


@pytest.fixture
def mug(shop) -> int:
    return shop.product("MUG-1", price=1200, stock=3)


def order(client, account, lines, key=None):
    headers = dict(account.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {"lines": [{"sku": sku, "quantity": q} for sku, q in lines]}
    return client.post("/api/orders", json=body, headers=headers)


@through_pooler
def test_place_order_takes_stock_at_current_prices(client, alice, shop, tea, mug):
    shop.set_price(mug, 1500)
    response = order(client, alice, [("MUG-1", 2), ("TEA-1", 3)])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/orders/{body['id']}"
    assert "Idempotent-Replayed" not in response.headers
    assert body["status"] == "placed"
    assert body["total_cents"] == 3 * 450 + 2 * 1500
    assert {(li["sku"], li["quantity"], li["unit_price_cents"]) for li in body["lines"]} == {
        ("TEA-1", 3, 450),
        ("MUG-1", 2, 1500),
    }
    assert (shop.stock(tea), shop.stock(mug)) == (7, 1)
    actor = f"storefront:customer:{alice.id}"
    assert shop.order_movements(body["id"], "sale") == [(tea, -3, actor), (mug, -2, actor)]
    assert client.get(f"/api/orders/{body['id']}", headers=alice.headers).get_json() == body


def test_insufficient_stock_names_the_sku_and_stores_nothing(client, alice, shop, tea, mug):
    # TEA-1 (lower product id) is inserted first and succeeds; MUG-1 fails: all rolled back.
    response = order(client, alice, [("TEA-1", 1), ("MUG-1", 4)])
    details = assert_error(response, 409, "insufficient_stock")
    assert details == {"sku": "MUG-1", "available": 3, "requested": 4}
    assert "MUG-1" in response.get_json()["error"]["message"]
    assert (shop.stock(tea), shop.stock(mug)) == (10, 3)
    assert (shop.count("orders"), shop.count("order_lines")) == (0, 0)
    assert shop.count("stock_movements") == 2  # the two restocks


def test_out_of_stock_product(client, alice, shop):
    shop.product("PEN-1", stock=0)
    details = assert_error(order(client, alice, [("PEN-1", 1)]), 409, "insufficient_stock")
    assert details == {"sku": "PEN-1", "available": 0, "requested": 1}


def test_unknown_or_inactive_sku_is_404(client, alice, shop, tea):
    old = shop.product("OLD-1", stock=5)
    shop.deactivate(old)
    response = order(client, alice, [("TEA-1", 1), ("NOPE-2", 1), ("OLD-1", 1)])
    assert assert_error(response, 404, "product_not_found") == {"skus": ["NOPE-2", "OLD-1"]}
    assert shop.count("orders") == 0
    assert shop.stock(tea) == 10


@pytest.mark.parametrize(
    "body, field",
    [
        ({"lines": []}, "lines"),
        ({}, "lines"),
        ({"lines": [{"sku": "TEA-1", "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "TEA-1", "quantity": -1}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "TEA-1", "quantity": 1001}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "TEA-1", "quantity": 10**30}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "TEA-1", "quantity": 1.5}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "TEA-1", "quantity": "2"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "TEA-1"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "tea-1", "quantity": 1}]}, "lines[0].sku"),
        ({"lines": [{"sku": "TEA-1\x00", "quantity": 1}]}, "lines[0].sku"),
        (
            {"lines": [{"sku": "TEA-1", "quantity": 1}, {"sku": "TEA-1", "quantity": 1001}]},
            "lines[1].quantity",
        ),
        ({"lines": [{"sku": "TEA-1", "quantity": True}]}, "lines[0].quantity"),
        ({"lines": [{"sku": f"P-{i}", "quantity": 1} for i in range(51)]}, "lines"),
        ({"lines": [{"sku": "TEA-1", "quantity": 1}], "customer_id": 1}, "customer_id"),
        ({"lines": "TEA-1"}, "lines"),
    ],
)
def test_bad_body_is_422_naming_the_field(client, alice, shop, tea, body, field):
    response = client.post("/api/orders", json=body, headers=alice.headers)
    details = assert_error(response, 422, "validation_error")
    assert details["in"] == "body"
    assert field in details["fields"], details
    assert shop.count("orders") == 0


def test_lines_with_the_same_sku_are_one_line_with_their_quantities_added(
    client, alice, shop, tea, mug
):
    response = order(client, alice, [("TEA-1", 2), ("MUG-1", 1), ("TEA-1", 3)])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [(li["sku"], li["quantity"]) for li in body["lines"]] == [("TEA-1", 5), ("MUG-1", 1)]
    assert body["total_cents"] == 5 * 450 + 1200
    assert (shop.stock(tea), shop.stock(mug)) == (5, 2)
    assert shop.count("order_lines") == 2


def test_each_line_may_hold_the_maximum_and_the_sum_is_bounded_by_the_stock(client, alice, shop):
    # The document bounds each line (1..1000): two full lines of one sku are a valid order
    # of 2000, which only the stock can refuse (a 422 here is what schemathesis caught).
    pen = shop.product("PEN-1", price=100, stock=1999)
    details = assert_error(
        order(client, alice, [("PEN-1", 1000), ("PEN-1", 1000)]), 409, "insufficient_stock"
    )
    assert details == {"sku": "PEN-1", "available": 1999, "requested": 2000}
    shop.restock(pen, 1)
    response = order(client, alice, [("PEN-1", 1000), ("PEN-1", 1000)])
    assert response.status_code == 201, response.get_json()
    assert [li["quantity"] for li in response.get_json()["lines"]] == [2000]
    assert shop.stock(pen) == 0


def test_a_whole_number_written_as_2_0_is_an_integer(client, alice, shop, tea):
    # JSON Schema's "integer" includes 2.0; "2", true and 2.5 stay 422 (see above).
    response = client.post(
        "/api/orders", json={"lines": [{"sku": "TEA-1", "quantity": 2.0}]}, headers=alice.headers
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["lines"][0]["quantity"] == 2


@pytest.mark.parametrize(
    "data, content_type, status, code",
    [
        ('{"lines": [', "application/json", 400, "malformed_json"),
        ("", "application/json", 400, "malformed_json"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        ('{"lines": [{"sku": "\\ud800"}]}', "application/json", 400, "malformed_json"),
        ('{"lines": []}', "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_unreadable_body_is_a_json_error(client, alice, data, content_type, status, code):
    headers = {**alice.headers, "Content-Type": content_type}
    assert_error(client.post("/api/orders", data=data, headers=headers), status, code)


def test_a_huge_body_is_413(client, alice):
    body = '{"lines": [' + " " * 70_000 + "]}"
    response = client.post(
        "/api/orders", data=body, headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert assert_error(response, 413, "payload_too_large") == {"max_bytes": 65536}


def test_authentication_comes_before_validation(client, shop):
    assert_error(client.post("/api/orders", json={"lines": []}), 401, "unauthorized")
    assert_error(
        client.post("/api/orders", json={"lines": []}, headers={"Authorization": "Bearer mp_x"}),
        401,
        "unauthorized",
    )


# --- idempotency -------------------------------------------------------------------------


@through_pooler
def test_same_key_and_body_returns_the_original_order(client, alice, shop, tea, mug):
    first = order(client, alice, [("TEA-1", 2), ("MUG-1", 1)], key="order-42")
    assert first.status_code == 201
    again = order(client, alice, [("MUG-1", 1), ("TEA-1", 2)], key="order-42")  # line order
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert shop.count("orders") == 1
    assert shop.stock(tea) == 8


@through_pooler
def test_the_same_order_split_or_merged_differently_is_the_same_body(client, alice, tea, mug):
    first = order(client, alice, [("TEA-1", 2), ("MUG-1", 1), ("TEA-1", 1)], key="split")
    assert first.status_code == 201
    again = order(client, alice, [("MUG-1", 1), ("TEA-1", 3)], key="split")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


@through_pooler
def test_same_key_with_another_body_is_422(client, alice, shop, tea):
    first = order(client, alice, [("TEA-1", 2)], key="order-42")
    details = assert_error(
        order(client, alice, [("TEA-1", 3)], key="order-42"), 422, "idempotency_key_reused"
    )
    assert details == {"idempotency_key": "order-42", "order_id": first.get_json()["id"]}
    assert shop.count("orders") == 1
    assert shop.stock(tea) == 8


@through_pooler
def test_a_failed_first_attempt_stores_nothing_so_a_retry_runs_afresh(client, alice, shop, mug):
    assert_error(order(client, alice, [("MUG-1", 5)], key="k"), 409, "insufficient_stock")
    shop.restock(mug, 2)
    retry = order(client, alice, [("MUG-1", 5)], key="k")
    assert retry.status_code == 201
    assert shop.stock(mug) == 0


@through_pooler
def test_keys_are_per_customer(client, alice, bob, shop, tea):
    a = order(client, alice, [("TEA-1", 1)], key="same")
    b = order(client, bob, [("TEA-1", 1)], key="same")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.get_json()["id"] != b.get_json()["id"]
    assert shop.stock(tea) == 8


@through_pooler
def test_replay_shows_the_order_as_it_is_now(client, alice, tea):
    first = order(client, alice, [("TEA-1", 1)], key="k").get_json()
    client.post(f"/api/orders/{first['id']}/cancel", headers=alice.headers)
    again = order(client, alice, [("TEA-1", 1)], key="k")
    assert again.status_code == 200
    assert again.get_json()["status"] == "cancelled"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_malformed_idempotency_key_is_422(client, alice, shop, tea, key):
    response = client.post(
        "/api/orders",
        json={"lines": [{"sku": "TEA-1", "quantity": 1}]},
        headers={**alice.headers, "Idempotency-Key": key.encode().decode("latin-1")},
    )
    assert list(assert_error(response, 422, "validation_error")["fields"]) == ["Idempotency-Key"]
    assert shop.count("orders") == 0


# --- reading -----------------------------------------------------------------------------


def test_list_orders_newest_first_in_pages(client, alice, bob, tea):
    ids = [order(client, alice, [("TEA-1", 1)]).get_json()["id"] for _ in range(5)]
    order(client, bob, [("TEA-1", 1)])
    first = client.get("/api/orders?limit=2", headers=alice.headers).get_json()
    assert [o["id"] for o in first["items"]] == ids[::-1][:2]
    assert first["items"][0]["lines"] == [
        {"sku": "TEA-1", "name": "Product TEA-1", "quantity": 1, "unit_price_cents": 450}
    ]
    seen, after = [], None
    while True:
        query = {"limit": 2} | ({"after": after} if after else {})
        page = client.get("/api/orders", query_string=query, headers=alice.headers).get_json()
        seen += [o["id"] for o in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == ids[::-1]


def test_list_orders_by_status(client, alice, tea):
    kept = order(client, alice, [("TEA-1", 1)]).get_json()["id"]
    gone = order(client, alice, [("TEA-1", 1)]).get_json()["id"]
    client.post(f"/api/orders/{gone}/cancel", headers=alice.headers)

    def ids(status):
        page = client.get(f"/api/orders?status={status}", headers=alice.headers).get_json()
        return [o["id"] for o in page["items"]]

    assert ids("placed") == [kept]
    assert ids("cancelled") == [gone]
    assert_error(
        client.get("/api/orders?status=lost", headers=alice.headers), 422, "validation_error"
    )


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "after=0",
        "after=x",
        f"after={2**63}",
        f"after={10**30}",
        "status=paid&status=placed",
    ],
)
def test_bad_order_query_is_422(client, alice, query):
    assert_error(client.get(f"/api/orders?{query}", headers=alice.headers), 422, "validation_error")


def test_another_customers_order_does_not_exist_for_you(client, alice, bob, shop, tea):
    mine = order(client, alice, [("TEA-1", 2)]).get_json()["id"]
    assert_error(client.get(f"/api/orders/{mine}", headers=bob.headers), 404, "order_not_found")
    assert_error(
        client.post(f"/api/orders/{mine}/cancel", headers=bob.headers), 404, "order_not_found"
    )
    assert client.get("/api/orders", headers=bob.headers).get_json() == {"items": [], "next": None}
    assert client.get(f"/api/orders/{mine}", headers=alice.headers).get_json()["status"] == "placed"
    assert shop.stock(tea) == 8


@pytest.mark.parametrize("order_id", ["999999", "0", str(2**63), str(10**30)])
def test_unknown_order_is_404(client, alice, order_id):
    assert_error(
        client.get(f"/api/orders/{order_id}", headers=alice.headers), 404, "order_not_found"
    )
    assert_error(
        client.post(f"/api/orders/{order_id}/cancel", headers=alice.headers), 404, "order_not_found"
    )


def test_non_numeric_order_id_is_a_json_404(client, alice):
    assert_error(client.get("/api/orders/abc", headers=alice.headers), 404, "not_found")
    assert_error(client.get("/api/orders/-1", headers=alice.headers), 404, "not_found")


def test_reading_orders_needs_a_token(client):
    for path in ("/api/orders", "/api/orders/1"):
        assert_error(client.get(path), 401, "unauthorized")
    assert_error(client.post("/api/orders/1/cancel"), 401, "unauthorized")


# --- cancelling ----------------------------------------------------------------------------


@through_pooler
def test_cancel_returns_the_stock_once(client, alice, shop, tea, mug):
    placed = order(client, alice, [("TEA-1", 4), ("MUG-1", 3)]).get_json()
    response = client.post(f"/api/orders/{placed['id']}/cancel", headers=alice.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled"
    assert body["lines"] == placed["lines"]
    assert (shop.stock(tea), shop.stock(mug)) == (10, 3)
    actor = f"storefront:customer:{alice.id}"
    assert shop.order_movements(placed["id"], "cancel") == [(tea, 4, actor), (mug, 3, actor)]
    again = client.post(f"/api/orders/{placed['id']}/cancel", headers=alice.headers)
    assert assert_error(again, 409, "order_not_cancellable") == {
        "order_id": placed["id"],
        "status": "cancelled",
    }
    assert (shop.stock(tea), shop.stock(mug)) == (10, 3)
    assert shop.ledger_sum(tea) == 10


def test_a_paid_order_can_be_cancelled(client, alice, shop, tea):
    placed = order(client, alice, [("TEA-1", 4)]).get_json()
    shop.set_status(placed["id"], "paid")
    response = client.post(f"/api/orders/{placed['id']}/cancel", headers=alice.headers)
    assert response.get_json()["status"] == "cancelled"
    assert shop.stock(tea) == 10


def test_a_shipped_order_cannot_be_cancelled(client, alice, shop, tea):
    placed = order(client, alice, [("TEA-1", 4)]).get_json()
    shop.set_status(placed["id"], "paid")
    shop.set_status(placed["id"], "shipped")
    response = client.post(f"/api/orders/{placed['id']}/cancel", headers=alice.headers)
    assert assert_error(response, 409, "order_not_cancellable")["status"] == "shipped"
    assert shop.stock(tea) == 6
