"""POST /api/tokens (another token for the caller), DELETE /api/tokens/current (revoke it)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from apps.flask_app import tokens
from apps.flask_app.api import bearer_token, json_response, operation
from apps.flask_app.db import connection
from apps.flask_app.models import ApiToken

bp = Blueprint("tokens", __name__, url_prefix="/api/tokens")


@bp.post("")
@operation(
    summary="Get another API token for your account",
    description="The new token is shown once (only its hash is stored) and works beside the "
    "one you sent, until it expires or is revoked: rotate by creating one, switching to "
    "it, then revoking the old one with DELETE /api/tokens/current.",
    tag="tokens",
    auth=True,
    responses={201: ApiToken},
)
def create(customer_id: int) -> Response:
    conn = connection()
    issued = tokens.issue(conn, customer_id, current_app.config["TOKEN_TTL"])
    conn.commit()
    return json_response(ApiToken(token=issued.token, expires_at=issued.expires_at), 201)


@bp.delete("/current")
@operation(
    summary="Revoke the token you send",
    description="The token stops working at once; your other tokens keep working. Your "
    "token is your only credential: revoking the last one locks you out, so create another "
    "first (POST /api/tokens) unless that is what you want.",
    tag="tokens",
    auth=True,
    responses={204: None},
)
def revoke_current(customer_id: int) -> Response:
    tokens.revoke(connection(), customer_id, bearer_token())
    response = Response(status=204)
    response.headers.remove("Content-Type")  # no content, no type
    return response
