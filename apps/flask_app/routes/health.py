"""Liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, json, request

from apps.flask_app.api import json_response, openapi_document, operation
from apps.flask_app.db import engine
from apps.flask_app.errors import ApiError
from apps.flask_app.models import Status

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation(summary="The process is up", tag="health", responses={200: Status})
def healthz() -> Response:
    return json_response(Status(status="ok"))


@bp.get("/readyz")
@operation(summary="The database is reachable", tag="health", responses={200: Status})
def readyz() -> Response:
    try:
        with engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.OperationalError, sa.exc.TimeoutError) as exc:
        raise ApiError(
            503,
            "database_unavailable",
            "the database is not reachable",
            headers={"Retry-After": "1"},
        ) from exc
    return json_response(Status(status="ready"))


@bp.get("/openapi.json")
def openapi() -> Response:
    # `servers` is where this request found the app (its script root: "/shop" when mounted
    # under /shop), so the document is built once per prefix the app is reached under.
    server = request.script_root or "/"
    documents: dict[str, str] = current_app.extensions.setdefault("storefront.openapi", {})
    document = documents.get(server)
    if document is None:
        document = json.dumps(
            openapi_document(current_app, title="mergepoint storefront", version="1", server=server)
        )
        documents[server] = document
    return Response(document, mimetype="application/json")
