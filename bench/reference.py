"""The least a storefront could do per request: a Flask route running the catalogue's query
through raw psycopg (a psycopg_pool pool, autocommit, no SQLAlchemy, no pydantic), rows
returned with ``flask.jsonify``. ``python -m bench.storefront`` serves it under granian
beside the real storefront, as the reference its ``GET /api/products`` is held to.

    STOREFRONT_DATABASE_URL=... granian --interface wsgi --factory bench.reference:create_app
"""

from __future__ import annotations

import os

from flask import Flask, jsonify
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from schema.urls import to_libpq

PAGE_SQL = (
    "SELECT sku, name, price_cents, stock FROM shop.products"
    " WHERE active ORDER BY sku LIMIT %s"
)


def create_app() -> Flask:
    app = Flask(__name__)
    pool = ConnectionPool(
        to_libpq(os.environ["STOREFRONT_DATABASE_URL"]),
        min_size=5,
        max_size=15,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=True,
    )

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @app.get("/api/products")
    def products():  # type: ignore[no-untyped-def]
        with pool.connection() as conn:
            rows = conn.execute(PAGE_SQL, [21]).fetchall()
        return jsonify(items=rows[:20], next=rows[19]["sku"] if len(rows) > 20 else None)

    return app
