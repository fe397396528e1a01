"""The mergepoint storefront: a JSON API for customers, on the shared ``shop`` schema.

Run it with ``flask --app apps.flask_app run`` or ``gunicorn 'apps.flask_app:create_app()'``;
it needs STOREFRONT_DATABASE_URL (the ``storefront`` role's URL); STOREFRONT_CORS_ORIGINS
(optional) lists the origins that may read the public catalogue from a browser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from apps.flask_app.errors import ConfigError

__all__ = ["ConfigError", "create_app"]

ENV_URL = "STOREFRONT_DATABASE_URL"
# Whole-number settings: (environment variable, default, smallest allowed value).
INT_SETTINGS = {
    # Seconds a new API token lives; 0: until revoked. A token is a customer's only
    # credential (there is no login to get another), so expiry is opt-in.
    "TOKEN_TTL": ("STOREFRONT_TOKEN_TTL", 0, 0),
    # Registrations one client address may attempt per window (seconds), every process
    # and host together (the count lives in the database).
    "REGISTRATION_LIMIT": ("STOREFRONT_REGISTRATION_LIMIT", 20, 1),
    "REGISTRATION_WINDOW": ("STOREFRONT_REGISTRATION_WINDOW", 3600, 1),
}
MAX_INT_SETTING = 2**31 - 1


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides the defaults and the environment.

    Keys: DATABASE_URL (default: $STOREFRONT_DATABASE_URL; required), POOL_SIZE,
    POOL_MAX_OVERFLOW, POOL_TIMEOUT (seconds), MAX_CONTENT_LENGTH (bytes), TOKEN_TTL,
    REGISTRATION_LIMIT, REGISTRATION_WINDOW (default: their STOREFRONT_* variable, see
    INT_SETTINGS), CORS_ORIGINS (default: $STOREFRONT_CORS_ORIGINS, comma-separated),
    STAFF_SESSION_COOKIE (the back office's session cookie, default ``sessionid``).
    """
    from apps.flask_app import cli, cors, db, errors, readiness, request_id, staff
    from apps.flask_app.routes import (
        customers,
        exports,
        health,
        notifications,
        orders,
        products,
        tokens,
    )
    from apps.flask_app.routes import staff as staff_routes

    app = Flask(__name__)
    app.config.from_mapping(
        DATABASE_URL=os.environ.get(ENV_URL) or None,
        POOL_SIZE=5,
        POOL_MAX_OVERFLOW=10,
        POOL_TIMEOUT=10,
        MAX_CONTENT_LENGTH=64 * 1024,
        CORS_ORIGINS=os.environ.get(cors.ENV, ""),
        STAFF_SESSION_COOKIE=staff.COOKIE,
    )
    for key, (variable, default, _minimum) in INT_SETTINGS.items():
        app.config[key] = os.environ.get(variable) or default
    app.config.update(config or {})
    for key, (variable, _default, minimum) in INT_SETTINGS.items():
        app.config[key] = _whole_number(key, variable, app.config[key], minimum)
    origins = app.config["CORS_ORIGINS"]
    app.config["CORS_ORIGINS"] = cors.parse(
        origins if isinstance(origins, str) else ",".join(origins)
    )
    url = app.config["DATABASE_URL"]
    if not url:
        raise ConfigError(
            f"{ENV_URL} is not set: set it to the storefront role's database URL, "
            "e.g. postgresql://storefront@localhost/mergepoint (see `mergepoint env`)"
        )
    app.extensions[db.EXTENSION] = db.make_engine(
        url,
        pool_size=app.config["POOL_SIZE"],
        max_overflow=app.config["POOL_MAX_OVERFLOW"],
        pool_timeout=app.config["POOL_TIMEOUT"],
    )
    app.teardown_appcontext(db.close_connection)
    request_id.init_app(app)
    errors.register_error_handlers(app)
    for module in (
        health, products, customers, exports, orders, tokens, notifications, staff_routes
    ):
        app.register_blueprint(module.bp)
    app.cli.add_command(cli.db)
    app.cli.add_command(cli.events)
    readiness.init_app(app)  # last: it checks the database once, when serving
    return app


def _whole_number(key: str, variable: str, value: Any, minimum: int) -> int:
    """A setting as an int in [minimum, 2**31 - 1], or one line naming it and its variable."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        value = repr(value)
    elif minimum <= value <= MAX_INT_SETTING:
        return value
    raise ConfigError(
        f"{key} ({variable}) must be a whole number from {minimum} to {MAX_INT_SETTING}, "
        f"not {value}"
    )
