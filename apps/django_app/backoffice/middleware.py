"""Refuse a query string carrying a NUL character with a 400, before any view runs.

PostgreSQL text cannot hold NUL: a list filter value (``?status__exact=a%00``) or an
autocomplete term with one reaches the database unchecked and fails there (a 500).
Forms already refuse NUL in what they post; query strings have no form.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RejectNulInQueryMiddleware:
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
