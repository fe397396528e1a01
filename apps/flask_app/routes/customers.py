"""POST /api/customers (register, get a token), GET /api/customers/me."""

from __future__ import annotations

from flask import Blueprint, Response

from apps.flask_app import shop, tokens
from apps.flask_app.api import json_response, operation
from apps.flask_app.db import engine
from apps.flask_app.models import Customer, CustomerCreate, Registration

bp = Blueprint("customers", __name__, url_prefix="/api/customers")


@bp.post("")
@operation(
    summary="Register a customer and get an API token",
    description="The token is shown once: only its hash is stored. Emails are unique "
    "case-insensitively.",
    tag="customers",
    body=CustomerCreate,
    responses={201: Registration},
    errors=(409,),
)
def register(body: CustomerCreate) -> Response:
    with engine().connect() as conn:
        registration = shop.register_customer(conn, email=body.email, name=body.name)
    return json_response(registration, 201)


@bp.get("/me")
@operation(summary="The customer the token belongs to", tag="customers", auth=True,
           responses={200: Customer})
def me(token: str) -> Response:
    with engine().connect() as conn:
        return json_response(shop.get_customer(conn, tokens.customer_id(conn, token)))
