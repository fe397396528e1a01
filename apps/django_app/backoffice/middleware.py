"""Middleware answering, before any view runs, what would otherwise be a 500.

- RejectNulInQueryMiddleware: a query string carrying a NUL character is a 400.
- RequireMigrationsMiddleware: a 503 page naming `manage.py migrate` while Django's own
  tables are not migrated (and while the database cannot be reached).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError, ProgrammingError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string

from apps.django_app.backoffice import readiness

log = logging.getLogger(__name__)


class RejectNulInQueryMiddleware:
    """PostgreSQL text cannot hold NUL: a list filter value (``?status__exact=a%00``) or an
    autocomplete term with one reaches the database unchecked and fails there (a 500).
    Forms already refuse NUL in what they post; query strings have no form."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return HttpResponseBadRequest(
                    "Bad request: the address contains a NUL character.",
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)


def unavailable(request: HttpRequest, title: str, message: str, command: str = "") -> HttpResponse:
    """A 503 page that needs neither the database nor the admin's templates."""
    page = render_to_string(
        "backoffice/unavailable.html",
        {"title": title, "message": message[:1].upper() + message[1:], "command": command},
        request=None,  # no context processors: they would read the session and the user
    )
    response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    if not command:
        response["Retry-After"] = "1"
    return response


def migrations_pending(request: HttpRequest, pending: list[str]) -> HttpResponse:
    return unavailable(
        request,
        "The back office is not migrated yet",
        readiness.message(pending),
        readiness.COMMAND,
    )


def database_unavailable(request: HttpRequest) -> HttpResponse:
    return unavailable(
        request,
        "The back office cannot reach its database",
        "The database did not answer; try again in a moment.",
    )


def _connection_lost(sqlstate: str | None) -> bool:
    """No connection (class 08, or none: the socket closed), or the server going away;
    not a lock or statement timeout, which the services turn into messages."""
    return sqlstate is None or sqlstate[:2] == "08" or sqlstate in {"57P01", "57P02", "57P03"}


class RequireMigrationsMiddleware:
    """Until Django's migrations are applied, every page is a 503 naming the command.

    Placed after WhiteNoise (static files need no database) and before the session and
    authentication middleware (their tables are what is missing). /healthz and /readyz
    answer for themselves (views.py).
    """

    OWN_ANSWER = frozenset({"/healthz", "/readyz"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in self.OWN_ANSWER:
            try:
                pending = readiness.check()
            except OperationalError as exc:
                log.warning("back office: database unavailable: %s", " ".join(str(exc).split()))
                return database_unavailable(request)
            if pending:
                return migrations_pending(request, pending)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        sqlstate = getattr(exception.__cause__, "sqlstate", None)
        if isinstance(exception, ProgrammingError) and sqlstate in readiness.UNDEFINED_OBJECT:
            # A table gone behind our back although the migrations said applied.
            readiness.forget()
            log.warning(
                "back office: %s on %s %s: run `%s`",
                " ".join(str(exception).split()),
                request.method,
                request.path,
                readiness.COMMAND,
            )
            return unavailable(
                request,
                "The back office's tables do not match its code",
                "The database lacks a table or column the back office uses.",
                readiness.COMMAND,
            )
        # A refused connection (the pooler or server down) or one closed under a query
        # carries no SQLSTATE at all: a 503 page too, never a 500.
        if isinstance(exception, OperationalError) and _connection_lost(sqlstate):
            log.warning("back office: database unavailable: %s", " ".join(str(exception).split()))
            return database_unavailable(request)
        return None
