"""Read-only staff endpoints, for whoever is logged in to the back office on this host.

Authentication is the back office's own session cookie, looked up in the database by its
hash (apps/flask_app/staff.py). Only safe methods here: a state-changing staff endpoint
would also need CSRF protection (a header matching the CSRF cookie, and an Origin check).
"""

from __future__ import annotations

from flask import Blueprint, Response

from apps.flask_app import shop
from apps.flask_app.api import json_response, operation
from apps.flask_app.db import connection
from apps.flask_app.models import OrderQuery, StaffMe, StaffOrderPage
from apps.flask_app.staff import StaffSession

bp = Blueprint("staff", __name__, url_prefix="/api/staff")

VIEW_ORDERS = "backoffice.view_order"


@bp.get("/me")
@operation(
    summary="Who you are in the back office",
    description="The staff session of the back office's session cookie: 401 once logged "
    "out, expired, or ended by a password change, deactivation or a permission taken away.",
    tag="staff",
    staff=True,
    responses={200: StaffMe},
)
def me(staff: StaffSession) -> Response:
    return json_response(
        StaffMe(
            user_id=staff.user_id,
            username=staff.username,
            is_superuser=staff.is_superuser,
            permissions=sorted(staff.permissions),
            expires_at=staff.expires_at,
        )
    )


@bp.get("/orders")
@operation(
    summary="Every customer's orders, newest first",
    description=f"Needs the back office's {VIEW_ORDERS} permission (403 without it). "
    "Keyset pages: `after` = the previous page's `next`.",
    tag="staff",
    staff=True,
    permission=VIEW_ORDERS,
    query=OrderQuery,
    responses={200: StaffOrderPage},
)
def orders(staff: StaffSession, query: OrderQuery) -> Response:
    page = shop.list_all_orders(
        connection(), after=query.after, limit=query.limit, status=query.status
    )
    return json_response(page)
