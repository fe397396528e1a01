"""Every request has an id: the client's ``X-Request-Id`` when it is sane, else a new UUID.

Every response carries it back in ``X-Request-Id``, and an unexpected failure (a 500, or a
503 when the database is unavailable) names it in ``details.request_id`` while the server
logs the whole story under the same id: a client quotes it, an operator greps for it.
A client's id is accepted only as a short token of safe characters, so it can neither
break a log line nor smuggle anything into one.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Request-Id"
MAX_LENGTH = 128
SANE = re.compile(rf"[A-Za-z0-9._:;=+/@~-]{{1,{MAX_LENGTH}}}")
DESCRIPTION = (
    "This request's id: the client's own X-Request-Id if it is 1-128 characters of "
    "A-Z a-z 0-9 . _ : ; = + / @ ~ -, else a generated UUID. An unexpected error's "
    "details.request_id is the same: quote it when reporting a problem."
)


def request_id() -> str:
    """The current request's id (decided once per request)."""
    if "request_id" not in g:
        given = request.headers.get(HEADER, "")
        g.request_id = given if SANE.fullmatch(given) else str(uuid.uuid4())
    return g.request_id


def init_app(app: Flask) -> None:
    @app.after_request
    def send_request_id(response: Response) -> Response:
        response.headers[HEADER] = request_id()
        return response
