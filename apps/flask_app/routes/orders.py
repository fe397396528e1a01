"""Orders of the token's customer: place (idempotently), list, show, cancel."""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from apps.flask_app import shop
from apps.flask_app.api import Header, Link, json_response, operation, order_id_or_404
from apps.flask_app.db import connection
from apps.flask_app.models import (
    MAX_QUANTITY,
    IdempotencyKey,
    Order,
    OrderCreate,
    OrderPage,
    OrderQuery,
)

bp = Blueprint("orders", __name__, url_prefix="/api/orders")

IDEMPOTENCY_KEY = Header(
    "Idempotency-Key",
    IdempotencyKey,
    "Retry-safe creation: the same key and body return the original order (200, "
    "Idempotent-Replayed: true); the same key with another body is a 422. 1-255 printable "
    "ASCII characters, unique per customer.",
)


@bp.post("")
@operation(
    summary="Place an order",
    description="One transaction: the order, then each line at the product's current price. "
    "Lines with the same sku are one product: their quantities add up (each line holds at "
    f"most {MAX_QUANTITY}). 409 insufficient_stock names the sku the database refused; "
    "nothing is stored then.",
    tag="orders",
    auth=True,
    token_in_statement=True,  # placing is one statement, the token lookup included
    body=OrderCreate,
    headers=(IDEMPOTENCY_KEY,),
    responses={200: Order, 201: Order},
    response_headers={
        200: {"Idempotent-Replayed": "true: the order placed earlier with this key"},
        201: {"Location": "the new order"},
    },
    errors=(404, 409),
    links={
        "getOrder": Link("orders.get_order", {"order_id": "$response.body#/id"}),
        "cancelOrder": Link("orders.cancel", {"order_id": "$response.body#/id"}),
    },
)
def place(token_hash: str, body: OrderCreate, headers: dict[str, str | None]) -> Response:
    key = headers[IDEMPOTENCY_KEY.name]
    order, replayed = shop.place_order(connection(), token_hash, body.merged(), key)
    if replayed:
        return json_response(order, 200, {"Idempotent-Replayed": "true"})
    assert isinstance(order, dict)  # a new order is the statement's data
    location = url_for("orders.get_order", order_id=order["id"])
    return json_response(order, 201, {"Location": location})


@bp.get("")
@operation(
    summary="Your orders, newest first",
    tag="orders",
    auth=True,
    query=OrderQuery,
    responses={200: OrderPage},
)
def list_orders(customer_id: int, query: OrderQuery) -> Response:
    page = shop.list_orders(
        connection(), customer_id, after=query.after, limit=query.limit, status=query.status
    )
    return json_response(page)


@bp.get("/<int:order_id>")
@operation(
    summary="One of your orders", tag="orders", auth=True, responses={200: Order}, errors=(404,)
)
def get_order(customer_id: int, order_id: int) -> Response:
    order_id_or_404(order_id)
    return json_response(shop.get_order(connection(), customer_id, order_id))


@bp.post("/<int:order_id>/cancel")
@operation(
    summary="Cancel one of your orders",
    description="Placed or paid orders only (409 otherwise); the database returns the stock.",
    tag="orders",
    auth=True,
    responses={200: Order},
    errors=(404, 409),
)
def cancel(customer_id: int, order_id: int) -> Response:
    order_id_or_404(order_id)
    return json_response(shop.cancel_order(connection(), customer_id, order_id))
