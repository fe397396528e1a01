"""The storefront mounted under a path prefix (/shop): every link it returns follows it."""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client


def test_location_and_openapi_servers_follow_the_prefix(app, shop):
    shop.product("TEA-1", price=450, stock=10)
    shop = Client(DispatcherMiddleware(NotFound(), {"/shop": app}))

    registered = shop.post("/shop/api/customers", json={"email": "a@example.com", "name": "A"})
    assert registered.status_code == 201, registered.json
    auth = {"Authorization": f"Bearer {registered.json['token']}"}
    placed = shop.post(
        "/shop/api/orders", json={"lines": [{"sku": "TEA-1", "quantity": 1}]}, headers=auth
    )
    assert placed.status_code == 201, placed.json
    assert placed.headers["Location"] == f"/shop/api/orders/{placed.json['id']}"
    followed = shop.get(placed.headers["Location"], headers=auth)
    assert (followed.status_code, followed.json) == (200, placed.json)

    assert shop.get("/shop/openapi.json").json["servers"] == [{"url": "/shop"}]


def test_openapi_servers_is_computed_per_prefix(app):
    shop = Client(DispatcherMiddleware(NotFound(), {"/shop": app, "/eu/shop": app}))
    root = app.test_client()
    assert root.get("/openapi.json").json["servers"] == [{"url": "/"}]
    assert shop.get("/shop/openapi.json").json["servers"] == [{"url": "/shop"}]
    assert shop.get("/eu/shop/openapi.json").json["servers"] == [{"url": "/eu/shop"}]
    assert root.get("/openapi.json").json["servers"] == [{"url": "/"}]
    # Only `servers` differs: the paths stay relative to it.
    assert shop.get("/shop/openapi.json").json["paths"] == root.get("/openapi.json").json["paths"]
