"""GET /api/products and /api/products/<sku>: public, active only, keyset pages."""

from __future__ import annotations

import pytest

from tests.flask_app.helpers import assert_error


@pytest.fixture
def products(shop):
    shop.product("TEA-1", price=450, stock=7, name="Green tea")
    shop.product("TEA-2", price=500, name="Black tea 100%")
    shop.product("MUG-1", price=1200, stock=2, name="Mug_large")
    hidden = shop.product("OLD-1", name="Discontinued tea")
    shop.deactivate(hidden)


def skus(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [p["sku"] for p in response.get_json()["items"]]


def test_lists_active_products_by_sku(client, products):
    response = client.get("/api/products")
    assert response.get_json() == {
        "items": [
            {"sku": "MUG-1", "name": "Mug_large", "price_cents": 1200, "stock": 2},
            {"sku": "TEA-1", "name": "Green tea", "price_cents": 450, "stock": 7},
            {"sku": "TEA-2", "name": "Black tea 100%", "price_cents": 500, "stock": 0},
        ],
        "next": None,
    }


def test_search_matches_sku_or_name_case_insensitively(client, products):
    assert skus(client.get("/api/products?q=TEA")) == ["TEA-1", "TEA-2"]  # OLD-1 is inactive
    assert skus(client.get("/api/products?q=green")) == ["TEA-1"]
    assert skus(client.get("/api/products?q=mug-")) == ["MUG-1"]
    assert skus(client.get("/api/products?q=nothing")) == []


def test_search_treats_like_wildcards_literally(client, products):
    assert skus(client.get("/api/products", query_string={"q": "100%"})) == ["TEA-2"]
    assert skus(client.get("/api/products", query_string={"q": "%"})) == ["TEA-2"]
    assert skus(client.get("/api/products", query_string={"q": "Mu_"})) == []
    assert skus(client.get("/api/products", query_string={"q": "g_"})) == ["MUG-1"]


def test_search_treats_the_escape_character_literally(client, shop):
    shop.product("HALF-1", name="Tea 1/2 kg")
    shop.product("PCT-1", name="Tea 1% kg")
    assert skus(client.get("/api/products", query_string={"q": "1/2"})) == ["HALF-1"]
    assert skus(client.get("/api/products", query_string={"q": "/"})) == ["HALF-1"]
    assert skus(client.get("/api/products", query_string={"q": "1/%"})) == []


def test_keyset_pages_walk_every_product_once(client, shop):
    for i in range(23):
        shop.product(f"P-{i:03d}")
    seen, after, pages = [], None, 0
    while True:
        query = {"limit": 5} | ({"after": after} if after else {})
        body = client.get("/api/products", query_string=query).get_json()
        seen += [p["sku"] for p in body["items"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
        assert after == body["items"][-1]["sku"]
    assert seen == [f"P-{i:03d}" for i in range(23)]
    assert pages == 5


def test_a_full_last_page_says_there_is_no_next(client, shop):
    for i in range(4):
        shop.product(f"P-{i}")
    assert client.get("/api/products?limit=4").get_json()["next"] is None
    assert client.get("/api/products?limit=3").get_json()["next"] == "P-2"


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("q=" + "x" * 101, "q"),
        ("q=%00", "q"),
        ("after=" + "A" * 65, "after"),
        ("limt=5", "limt"),
        ("q=tea&q=mug", "q"),  # the document says one q: a second one is not ignored
        ("limit=5&q=a&limit=6", "limit"),
    ],
)
def test_bad_query_is_422_naming_the_parameter(client, query, field):
    details = assert_error(client.get(f"/api/products?{query}"), 422, "validation_error")
    assert details["in"] == "query"
    assert list(details["fields"]) == [field]


def test_one_product_by_sku(client, products):
    response = client.get("/api/products/TEA-1")
    assert response.status_code == 200
    assert response.get_json() == {
        "sku": "TEA-1",
        "name": "Green tea",
        "price_cents": 450,
        "stock": 7,
    }


@pytest.mark.parametrize("sku", ["NOPE-1", "OLD-1", "tea-1", "%", "A" * 300])
def test_unknown_inactive_or_malformed_sku_is_404(client, products, sku):
    details = assert_error(client.get(f"/api/products/{sku}"), 404, "product_not_found")
    assert details == {"sku": sku}
