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


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides the defaults and the environment.

    Keys: DATABASE_URL (default: $STOREFRONT_DATABASE_URL; required), POOL_SIZE,
    POOL_MAX_OVERFLOW, POOL_TIMEOUT (seconds), MAX_CONTENT_LENGTH (bytes), CORS_ORIGINS
    (default: $STOREFRONT_CORS_ORIGINS, comma-separated), STAFF_SESSION_COOKIE (the back
    office's session cookie, default ``sessionid``).
    """
    from apps.flask_app import cli, cors, db, errors, readiness, staff
    from apps.flask_app.routes import customers, health, orders, products
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
    app.config.update(config or {})
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
    errors.register_error_handlers(app)
    for module in (health, products, customers, orders, staff_routes):
        app.register_blueprint(module.bp)
    app.cli.add_command(cli.db)
    readiness.init_app(app)  # last: it checks the database once, when serving
    return app
