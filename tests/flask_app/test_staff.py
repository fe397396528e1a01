"""Staff endpoints: the back office's session cookie, known to the storefront through the
database (identity.staff_session, by hash); read-only; every customer's orders."""

from __future__ import annotations

import pytest

from apps.flask_app import create_app
from apps.flask_app.errors import ConfigError
from tests.data import key_hash
from tests.flask_app.helpers import assert_error


def as_staff(client, key: str):
    client.set_cookie("sessionid", key)
    return client


def test_me_is_the_staff_session_of_the_cookie(client, shop):
    key = shop.staff_session(7, "grace", permissions=["backoffice.view_order", "auth.view_user"])
    response = as_staff(client, key).get("/api/staff/me")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("user_id", "username", "is_superuser", "permissions")} == {
        "user_id": 7,
        "username": "grace",
        "is_superuser": False,
        "permissions": ["auth.view_user", "backoffice.view_order"],
    }
    assert body["expires_at"].endswith("Z") or "+" in body["expires_at"]


@pytest.mark.parametrize(
    "cookie",
    [None, "", "nonexistent0123456789abcdefghijk", "x" * 4000, "é ; \x7f", "%00"],
    ids=["none", "empty", "unknown", "huge", "odd", "nul"],
)
def test_without_a_live_session_it_is_401(client, shop, cookie):
    shop.staff_session(7)  # someone else's
    if cookie is not None:
        client.set_cookie("sessionid", cookie)
    for path in ("/api/staff/me", "/api/staff/orders"):
        assert_error(client.get(path), 401, "staff_login_required")


def test_an_ended_or_expired_session_is_401(client, shop, fresh_db, owner):
    logged_out, expired = shop.staff_session(7), shop.staff_session(8)
    with fresh_db.connect("backoffice", autocommit=True) as backoffice:
        backoffice.execute("SELECT identity.end_staff_session(%s)", [key_hash(logged_out)])
    owner.execute(
        "UPDATE identity.staff_sessions SET expires_at = now() - interval '1 second'"
        " WHERE key_hash = %s",
        [key_hash(expired)],
    )
    for key in (logged_out, expired):
        assert_error(as_staff(client, key).get("/api/staff/me"), 401, "staff_login_required")


def test_a_customers_bearer_token_is_not_a_staff_session(client, alice):
    assert_error(client.get("/api/staff/me", headers=alice.headers), 401, "staff_login_required")


def test_orders_need_the_view_order_permission(client, shop):
    key = shop.staff_session(7, "clerk", permissions=["backoffice.view_product"])
    details = assert_error(
        as_staff(client, key).get("/api/staff/orders"), 403, "staff_permission_required"
    )
    assert details == {"permission": "backoffice.view_order"}
    superuser = shop.staff_session(8, "root", permissions=[], superuser=True)
    assert as_staff(client, superuser).get("/api/staff/orders").status_code == 200


def test_staff_see_every_customers_orders_newest_first_in_keyset_pages(client, shop):
    tea = shop.product("TEA-1", price=450, stock=50)
    ada, bob = shop.customer("ada@example.com"), shop.customer("bob@example.com")
    placed = [shop.order({tea: 1}, customer=c) for c in (ada, bob, ada, bob, ada)]
    shop.set_status(placed[1], "paid")
    as_staff(client, shop.staff_session(7))

    first = client.get("/api/staff/orders?limit=2").get_json()
    assert [o["id"] for o in first["items"]] == placed[::-1][:2]
    assert first["next"] == placed[3]
    second = client.get(f"/api/staff/orders?limit=2&after={first['next']}").get_json()
    assert [o["id"] for o in second["items"]] == [placed[2], placed[1]]
    third = client.get(f"/api/staff/orders?limit=2&after={second['next']}").get_json()
    assert [o["id"] for o in third["items"]] == [placed[0]] and third["next"] is None

    item = third["items"][0]
    assert (item["customer_id"], item["customer_email"], item["status"]) == (
        ada,
        "ada@example.com",
        "placed",
    )
    assert item["lines"] == [
        {"sku": "TEA-1", "name": "Product TEA-1", "quantity": 1, "unit_price_cents": 450}
    ]
    paid = client.get("/api/staff/orders?status=paid").get_json()
    assert [o["id"] for o in paid["items"]] == [placed[1]] and paid["next"] is None


@pytest.mark.parametrize("query", ["status=lost", "limit=0", "after=0", "limit=5&limit=6", "x=1"])
def test_a_bad_query_is_422_once_logged_in(client, shop, query):
    as_staff(client, shop.staff_session(7))
    assert_error(client.get(f"/api/staff/orders?{query}"), 422, "validation_error")


def test_staff_endpoints_are_read_only(client, shop):
    as_staff(client, shop.staff_session(7))
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)("/api/staff/orders")
        assert_error(response, 405, "method_not_allowed")


def test_the_openapi_document_describes_the_staff_endpoints(client):
    document = client.get("/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["staffSession"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": document["components"]["securitySchemes"]["staffSession"]["description"],
    }
    me = document["paths"]["/api/staff/me"]["get"]
    orders = document["paths"]["/api/staff/orders"]["get"]
    assert me["security"] == orders["security"] == [{"staffSession": []}]
    assert set(me["responses"]) == {"200", "401", "500", "503"}
    assert set(orders["responses"]) == {"200", "401", "403", "422", "500", "503"}
    assert "back office" in orders["responses"]["401"]["description"]
    assert {p["name"] for p in orders["parameters"]} == {"after", "limit", "status"}
    assert set(document["paths"]["/api/staff/orders"]) == {"get"}


# --- CORS: the back office's panel, from another host ---------------------------------------


@pytest.fixture
def cors_app(database):
    app = create_app(
        {
            "DATABASE_URL": database.url("storefront"),
            "TESTING": True,
            "CORS_ORIGINS": "http://backoffice.test:8001, http://127.0.0.1:8001",
        }
    )
    try:
        yield app
    finally:
        app.extensions["storefront.engine"].dispose()


def test_allow_listed_origins_may_read_the_catalogue(cors_app, shop):
    shop.product("TEA-1", price=450, stock=3)
    client = cors_app.test_client()
    allowed = {"Origin": "http://backoffice.test:8001"}
    for path, status in (("/api/products/TEA-1", 200), ("/api/products/NOPE", 404)):
        response = client.get(path, headers=allowed)
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == "http://backoffice.test:8001"
        assert "Origin" in response.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in response.headers
    stranger = client.get("/api/products/TEA-1", headers={"Origin": "http://evil.test"})
    assert stranger.status_code == 200
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_staff_and_customer_endpoints_are_never_shared_cross_origin(cors_app, shop):
    client = cors_app.test_client()
    client.set_cookie("sessionid", shop.staff_session(7))
    origin = {"Origin": "http://backoffice.test:8001"}
    for path in ("/api/staff/me", "/api/staff/orders", "/api/customers/me"):
        assert "Access-Control-Allow-Origin" not in client.get(path, headers=origin).headers


def test_without_the_variable_no_origin_is_allowed(client, shop):
    shop.product("TEA-1", stock=1)
    response = client.get("/api/products/TEA-1", headers={"Origin": "http://127.0.0.1:8001"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "origins", ["*", "http://127.0.0.1:8001/", "127.0.0.1:8001", "http://a.test/admin"]
)
def test_an_entry_that_is_not_an_origin_is_one_clear_error(monkeypatch, database, origins):
    monkeypatch.setenv("STOREFRONT_CORS_ORIGINS", origins)
    with pytest.raises(ConfigError) as refused:
        create_app({"DATABASE_URL": database.url("storefront")})
    message = str(refused.value)
    assert message.startswith("STOREFRONT_CORS_ORIGINS: ") and "\n" not in message
    assert "scheme://host[:port]" in message
