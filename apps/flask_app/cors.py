"""Cross-origin reads of the public catalogue, for origins on an allow-list.

With two hosts the back office's product page (its "storefront view" panel) fetches
``/api/products/<sku>`` from another origin; the browser lets it read the answer only if
we name its origin. The list comes from STOREFRONT_CORS_ORIGINS (comma-separated
``scheme://host[:port]``); by default it is empty, and under one host it is not needed
(same origin). Only simple GETs of public data are allowed: no credentials (a staff
cookie is never honoured cross-origin), no preflight.
"""

from __future__ import annotations

import re

from flask import Response, current_app, request

from apps.flask_app.errors import ConfigError

ENV = "STOREFRONT_CORS_ORIGINS"
# scheme://host[:port], the host a name, an IPv4 or a bracketed IPv6 address.
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def parse(raw: str | None) -> frozenset[str]:
    """The allow-list from its variable's value; one readable line if an entry is not an
    origin (a path or a trailing slash would never match what browsers send)."""
    origins = [item.strip() for item in (raw or "").split(",") if item.strip()]
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"{ENV}: {origin!r} is not an origin; write scheme://host[:port], e.g."
                " http://127.0.0.1:8001 (no path, no trailing slash, no *)"
            )
    return frozenset(origins)


def allow_listed_origin(response: Response) -> Response:
    """An ``after_request`` hook: name the request's origin if it is on the list."""
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin is not None and origin in current_app.config["CORS_ORIGINS"]:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response
