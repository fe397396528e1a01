"""GET /api/products, GET /api/products/<sku>: the public catalogue."""

from __future__ import annotations

import re

from flask import Blueprint, Response

from apps.flask_app import cors, shop
from apps.flask_app.api import Link, json_response, operation
from apps.flask_app.db import connection
from apps.flask_app.errors import ApiError
from apps.flask_app.models import SKU_PATTERN, Product, ProductPage, ProductQuery

bp = Blueprint("products", __name__, url_prefix="/api/products")
bp.after_request(cors.allow_listed_origin)  # the back office's panel, from another host


@bp.get("")
@operation(
    summary="List active products",
    description="Ordered by sku. Page with `after` = the previous page's `next`.",
    tag="products",
    query=ProductQuery,
    responses={200: ProductPage},
    links={
        "getProduct": Link("products.get_product", {"sku": "$response.body#/items/0/sku"}),
        "orderProduct": Link(
            "orders.place",
            request_body={"lines": [{"sku": "$response.body#/items/0/sku", "quantity": 1}]},
        ),
    },
)
def list_products(query: ProductQuery) -> Response:
    page = shop.list_products(connection(), q=query.q, after=query.after, limit=query.limit)
    return json_response(page)


@bp.get("/<sku>")
@operation(
    summary="One active product",
    tag="products",
    responses={200: Product},
    errors=(404,),
    path_params={"sku": {"type": "string", "pattern": SKU_PATTERN}},
    links={
        "orderProduct": Link(
            "orders.place", request_body={"lines": [{"sku": "$response.body#/sku", "quantity": 1}]}
        ),
    },
)
def get_product(sku: str) -> Response:
    if not re.fullmatch(SKU_PATTERN, sku):
        raise ApiError(404, "product_not_found", f"no product with sku {sku}", {"sku": sku})
    return json_response(shop.get_product(connection(), sku))
