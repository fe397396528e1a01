"""The app as a whole: start-up, health, the error shape, the OpenAPI document."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from openapi_spec_validator import validate

from apps.flask_app import ConfigError, create_app, migrate
from apps.flask_app.db import EXTENSION
from schema.paths import ROOT
from schema.urls import with_params
from tests.flask_app.helpers import assert_error


def env_without_urls(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    return env | extra


# --- start-up ---------------------------------------------------------------------------


def test_missing_url_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("STOREFRONT_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="^STOREFRONT_DATABASE_URL is not set: set it to"):
        create_app()


@pytest.mark.parametrize(
    "url", ["mysql://shop@localhost/shop", "localhost:5432", "postgresql://x:y"]
)
def test_a_url_that_is_not_postgresql_is_refused(url):
    with pytest.raises(ConfigError, match="STOREFRONT_DATABASE_URL"):
        create_app({"DATABASE_URL": url})


@pytest.mark.parametrize(
    ("params", "threshold"),
    [
        ({}, 5),  # direct: psycopg's default
        ({"pooler": "transaction"}, None),  # PgBouncer < 1.22: nothing prepared
        ({"pooler": "transaction", "prepare_threshold": 5}, 5),  # a pooler that tracks them
        ({"pooler": "transaction", "prepare_threshold": "none"}, None),
    ],
)
def test_a_pooled_url_turns_prepared_statements_off_unless_it_says(fresh_db, params, threshold):
    app = create_app({"DATABASE_URL": with_params(fresh_db.url("storefront"), **params)})
    engine = app.extensions[EXTENSION]
    try:
        assert "pooler" not in engine.url.query and "prepare_threshold" not in engine.url.query
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold == threshold
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("pooler=session", "supports pooler=transaction"),
        ("pooler=transaction&prepare_threshold=soon", "prepare_threshold='soon'"),
    ],
)
def test_a_bad_pooler_parameter_is_one_clear_error(query, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"DATABASE_URL": f"postgresql://sf@localhost/shop?{query}"})


def test_the_environment_variable_is_read(monkeypatch, database):
    monkeypatch.setenv("STOREFRONT_DATABASE_URL", database.url("storefront"))
    app = create_app()
    try:
        engine = app.extensions[EXTENSION]
        assert engine.url.drivername == "postgresql+psycopg"
        assert not engine.pool._pre_ping  # a look at the socket on checkout instead (db.py)
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        app.extensions[EXTENSION].dispose()


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "flask", "--app", "apps.flask_app", "run"],
        [sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", "upgrade"],
        [
            *(sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket"),
            "apps.flask_app:create_app()",
        ],
    ],
    ids=["flask-run", "flask-db-upgrade", "gunicorn"],
)
def test_missing_url_at_the_command_line_is_one_line_without_traceback(argv):
    result = subprocess.run(
        argv, cwd=ROOT, env=env_without_urls(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if "STOREFRONT_DATABASE_URL" in line]
    assert len(lines) == 1, result.stderr
    assert "is not set" in lines[0]


@pytest.mark.slow
def test_db_upgrade_runs_with_only_the_storefront_url(database):
    env = env_without_urls(STOREFRONT_DATABASE_URL=database.url("storefront"))
    env.pop("MERGEPOINT_ROLE_PREFIX", None)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"storefront schema at {migrate.head()}"


# --- health ----------------------------------------------------------------------------


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_is_503_json_when_the_database_is_unreachable(fresh_db):
    url = fresh_db.url("storefront").replace(f"/{fresh_db.name}?", "/no_such_database?")
    app = create_app({"DATABASE_URL": url})
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert_error(response, 503, "database_unavailable")
        assert response.headers["Retry-After"] == "1"
        # and an endpoint that needs the database says the same, not a 500
        assert_error(client.get("/api/products"), 503, "database_unavailable")
    finally:
        app.extensions[EXTENSION].dispose()


# --- every error is the one JSON shape ---------------------------------------------------


def test_unknown_path_is_json_404(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/api/products/TEA-1/extra"), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(client):
    response = client.delete("/api/products")
    details = assert_error(response, 405, "method_not_allowed")
    assert "GET" in details["allowed"]
    assert "GET" in response.headers["Allow"]
    assert_error(client.put("/api/orders/1/cancel"), 405, "method_not_allowed")


def test_an_unexpected_error_is_a_json_500_without_details(app, client):
    @app.get("/boom")
    def boom():
        raise ZeroDivisionError("secret internals")

    response = client.get("/boom")
    assert_error(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True)


# --- the OpenAPI document --------------------------------------------------------------


def test_openapi_is_valid_and_covers_every_route(app, client):
    document = client.get("/openapi.json").get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), m.lower())  # werkzeug's to OpenAPI's
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in ("static", "health.openapi")
        for m in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == routes
    place = document["paths"]["/api/orders"]["post"]
    assert set(place["responses"]) >= {"200", "201", "400", "401", "404", "409", "422"}
    assert place["security"] == [{"bearerAuth": []}]
    assert [p["name"] for p in place["parameters"]] == ["Idempotency-Key"]
    line = document["components"]["schemas"]["OrderLineIn"]
    assert line["properties"]["quantity"]["maximum"] == 1000
    assert "security" not in document["paths"]["/api/products"]["get"]


def test_openapi_links_lead_from_an_order_to_reading_and_cancelling_it(client):
    document = client.get("/openapi.json").get_json()
    by_id = {
        op["operationId"]: (path, method)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    assert len(by_id) == sum(len(ops) for ops in document["paths"].values())  # unique ids
    placed = document["paths"]["/api/orders"]["post"]["responses"]
    for status in ("200", "201"):
        links = placed[status]["links"]
        assert by_id[links["getOrder"]["operationId"]] == ("/api/orders/{order_id}", "get")
        assert by_id[links["cancelOrder"]["operationId"]] == (
            "/api/orders/{order_id}/cancel",
            "post",
        )
        for link in links.values():
            assert link["parameters"] == {"order_id": "$response.body#/id"}
    # and from a product to ordering it (how a stateful client finds a real sku)
    product = document["paths"]["/api/products/{sku}"]["get"]["responses"]["200"]["links"]
    assert by_id[product["orderProduct"]["operationId"]] == ("/api/orders", "post")
    every_link = [
        link
        for ops in document["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert {link["operationId"] for link in every_link} <= set(by_id)
