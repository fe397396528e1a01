"""POST /api/customers (register, get a token), GET /api/customers/me."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from apps.flask_app import shop
from apps.flask_app.api import json_response, operation
from apps.flask_app.db import connection
from apps.flask_app.models import Customer, CustomerCreate, Registration

bp = Blueprint("customers", __name__, url_prefix="/api/customers")


@bp.post("")
@operation(
    summary="Register a customer and get an API token",
    description="The token is shown once: only its hash is stored. Emails are unique "
    "case-insensitively. Each client address may try a limited number of registrations per "
    "window (valid or not): past it, 429 with Retry-After.",
    tag="customers",
    limit="REGISTRATION",
    body=CustomerCreate,
    responses={201: Registration},
    errors=(409,),
)
def register(body: CustomerCreate) -> Response:
    registration = shop.register_customer(
        connection(), email=body.email, name=body.name, token_ttl=current_app.config["TOKEN_TTL"]
    )
    return json_response(registration, 201)


@bp.get("/me")
@operation(
    summary="The customer the token belongs to",
    tag="customers",
    auth=True,
    responses={200: Customer},
)
def me(customer_id: int) -> Response:
    return json_response(shop.get_customer(connection(), customer_id))
