"""POST /api/customers/me/export, GET /api/customers/me/exports/<id>: your data as a file."""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from apps.flask_app import exports
from apps.flask_app.api import json_response, operation
from apps.flask_app.db import connection
from apps.flask_app.models import DataExport, ExportPending

bp = Blueprint("exports", __name__, url_prefix="/api/customers/me")

RETRY_AFTER = "1"  # seconds: an export takes about that long once a worker has it


@bp.post("/export")
@operation(
    summary="Export your data",
    description="Your profile, orders and notifications, made in the background: 202 with "
    "`Location`, the export to fetch. While one of yours is pending, asking again answers "
    f"that one. A finished export can be fetched for {exports.TTL.days} day, then it is gone.",
    tag="customers",
    auth=True,
    responses={202: ExportPending},
    response_headers={202: {"Location": "the export: GET it until it is ready"}},
)
def request_export(customer_id: int) -> Response:
    conn = connection()
    public_id, _new = exports.request_export(conn, customer_id)
    conn.commit()
    pending = exports.get(conn, customer_id, public_id)
    location = url_for("exports.get_export", export_id=public_id)
    return json_response(pending, 202, {"Location": location, "Retry-After": RETRY_AFTER})


@bp.get("/exports/<export_id>")
@operation(
    summary="Fetch your data export",
    description="202 `{\"status\": \"pending\"}` (with `Retry-After`) while it is being "
    "made, then 200 with the export; 404 once it expired.",
    tag="customers",
    auth=True,
    path_params={"export_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}},
    responses={200: DataExport, 202: ExportPending},
    response_headers={202: {"Retry-After": "seconds to wait before asking again"}},
    errors=(404,),
)
def get_export(customer_id: int, export_id: str) -> Response:
    found = exports.get(connection(), customer_id, export_id)
    if isinstance(found, ExportPending):
        return json_response(found, 202, {"Retry-After": RETRY_AFTER})
    return json_response(found)
