"""What the customer was told about their orders (written by the event consumer)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response

from apps.flask_app.api import json_response, operation
from apps.flask_app.db import connection
from apps.flask_app.models import Notification, NotificationPage, NotificationQuery
from apps.flask_app.tables import notifications

bp = Blueprint("notifications", __name__, url_prefix="/api/notifications")

_page = (
    sa.select(
        notifications.c.id,
        notifications.c.order_id,
        notifications.c.kind,
        notifications.c.created_at,
    )
    .where(
        notifications.c.customer_id == sa.bindparam("customer_id"),
        notifications.c.id < sa.bindparam("after"),
    )
    .order_by(notifications.c.id.desc())
    .limit(sa.bindparam("limit"))
)


@bp.get("")
@operation(
    summary="Your notifications, newest first",
    description="Each change to one of your orders that you did not make yourself: staff "
    "marked it paid or shipped, or cancelled it. Keyset pages: `after` = the previous "
    "page's `next`.",
    tag="notifications",
    auth=True,
    query=NotificationQuery,
    responses={200: NotificationPage},
)
def list_notifications(customer_id: int, query: NotificationQuery) -> Response:
    rows = connection().execute(
        _page,
        {"customer_id": customer_id, "after": query.after or 2**63 - 1, "limit": query.limit + 1},
    ).all()
    page = rows[: query.limit]
    return json_response(
        NotificationPage(
            items=[Notification.model_validate(r, from_attributes=True) for r in page],
            next=page[-1].id if len(rows) > query.limit else None,
        )
    )
