"""Errors: one JSON shape for every failure, and one clean line for a bad start-up.

Every error response is ``{"error": {"code": ..., "message": ..., "details": {...}}}``;
clients branch on ``code`` (stable), people read ``message``. No database message ever
reaches a client: an error the code expects names the rule or constraint (names that are
part of the storefront's contract, apps/flask_app/tables.py) and the fields to fix; any
other failure is a 500 (a 503 when the database is unavailable) naming the request id, and
the server logs the whole error under that id.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from apps.flask_app.request_id import request_id

try:  # gunicorn prints an AppImportError as one line and stops, instead of a traceback.
    from gunicorn.errors import AppImportError as _AppLoadError
except ImportError:  # pragma: no cover - gunicorn is a dependency, but the app runs without it
    _AppLoadError = RuntimeError  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)


class ConfigError(click.ClickException, _AppLoadError, RuntimeError):
    """The app cannot start as configured; ``str(err)`` says why and what to do, in one line.

    A ClickException, so ``flask --app apps.flask_app run`` prints ``Error: <message>`` and
    exits 1; an AppImportError, so gunicorn prints the message and exits without a traceback.
    """

    def __str__(self) -> str:
        return self.message


class ApiError(Exception):
    """A failure the client can act on, rendered as the one error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# Codes for the errors werkzeug raises before a view runs (routing, body size, ...).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, "_".join((exc.name or "error").lower().split()))
    details: dict[str, Any] = {}
    if status == 404:
        message = f"no such resource: {request.method} {request.path}"
    elif status == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        message = f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}"
        details = {"allowed": allowed}
    elif status == 413:
        limit = request.max_content_length
        message = f"the request body is too large (at most {limit} bytes)"
        details = {"max_bytes": limit}
    else:
        message = exc.description or exc.name
    # Keep werkzeug's headers (Allow on 405, WWW-Authenticate...), not its HTML type.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error_response(status, code, message, details, headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    app.register_error_handler(HTTPException, _http_error)

    @app.errorhandler(sa.exc.OperationalError)
    def database_unavailable(exc: sa.exc.OperationalError) -> Response:
        # Connection lost or refused, server shutting down, lock or statement timeout,
        # serialization failure: all worth a retry, none the client's fault.
        rid = request_id()
        log.warning(
            "request %s: database unavailable on %s %r: %s",
            rid,
            request.method,
            request.path,
            " ".join(str(exc.orig or exc).split()),
        )
        return error_response(
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
            {"request_id": rid},
            headers={"Retry-After": "1"},
        )

    @app.errorhandler(sa.exc.InternalError)
    def read_only(exc: sa.exc.InternalError) -> Response:
        if getattr(exc.orig, "sqlstate", None) != "25006":  # read_only_sql_transaction
            return internal_error(exc)
        log.warning("write refused, the database is read-only: %s", exc.orig)
        return error_response(
            503,
            "database_read_only",
            "the database is read-only (a replica?); the storefront's URL must lead to the"
            " primary or its pooler",
            headers={"Retry-After": "1"},
        )

    @app.errorhandler(sa.exc.TimeoutError)
    def pool_exhausted(exc: sa.exc.TimeoutError) -> Response:
        rid = request_id()
        log.warning("request %s: no database connection available: %s", rid, exc)
        return error_response(
            503,
            "busy",
            "the storefront is busy; retry shortly",
            {"request_id": rid},
            headers={"Retry-After": "1"},
        )

    app.register_error_handler(Exception, internal_error)


def internal_error(exc: Exception) -> Response:
    """A 500 naming the request id; the log has the whole error (a database's message too)."""
    rid = request_id()
    log.error(
        "request %s: unhandled error on %s %r", rid, request.method, request.path, exc_info=exc
    )
    return error_response(
        500,
        "internal_error",
        f"an unexpected error occurred; it was logged as request {rid}",
        {"request_id": rid},
    )
