"""Liveness and readiness, for a load balancer or an orchestrator (no login, JSON).

Errors have the storefront's shape: {"error": {"code", "message", "details"}}.
"""

from __future__ import annotations

from django.db import OperationalError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.django_app.backoffice import readiness


def _error(status: int, code: str, message: str, details: dict, **headers: str) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JsonResponse(body, status=status, headers=headers or None)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up (no database)."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and no migration is pending; 503 otherwise."""
    try:
        pending = readiness.check()
        if not pending:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except OperationalError:
        return _error(
            503,
            "database_unavailable",
            "the database is not reachable",
            {},
            **{"Retry-After": "1"},
        )
    if pending:
        details = {"pending": pending, "command": readiness.COMMAND}
        return _error(503, "migrations_pending", readiness.message(pending), details)
    return JsonResponse({"status": "ready"})
