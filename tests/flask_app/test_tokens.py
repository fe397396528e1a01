"""API tokens: another one (POST /api/tokens), revoking one (DELETE /api/tokens/current),
and an optional expiry (TOKEN_TTL) (issue 13, item 3)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from apps.flask_app import ConfigError, create_app
from apps.flask_app.db import EXTENSION
from schema.paths import ROOT
from tests.flask_app.helpers import assert_error


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_hashes(conn, customer_id: int) -> set[str]:
    rows = conn.execute(
        "SELECT token_hash FROM storefront.api_tokens WHERE customer_id = %s", [customer_id]
    )
    return {row[0] for row in rows}


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_new_token_works_beside_the_old_one_and_is_stored_only_as_a_hash(
    client, alice, as_storefront
):
    response = client.post("/api/tokens", headers=alice.headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"token", "expires_at"} and body["expires_at"] is None
    token = body["token"]
    assert token.startswith("mp_") and token != alice.token
    for headers in (alice.headers, bearer(token)):
        assert client.get("/api/customers/me", headers=headers).get_json()["id"] == alice.id
    assert stored_hashes(as_storefront, alice.id) == {sha256(alice.token), sha256(token)}


def test_revoking_the_current_token_stops_it_at_once_and_only_it(client, alice, bob):
    spare = client.post("/api/tokens", headers=alice.headers).get_json()["token"]
    response = client.delete("/api/tokens/current", headers=alice.headers)
    assert response.status_code == 204 and response.get_data() == b""
    refused = client.get("/api/customers/me", headers=alice.headers)
    assert_error(refused, 401, "unauthorized")
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert "revoked" in refused.get_json()["error"]["message"]
    # Revoked twice is still revoked: the second call no longer authenticates.
    assert_error(client.delete("/api/tokens/current", headers=alice.headers), 401, "unauthorized")
    assert_error(client.post("/api/tokens", headers=alice.headers), 401, "unauthorized")
    # Alice's other token, and Bob's, still work.
    assert client.get("/api/customers/me", headers=bearer(spare)).get_json()["id"] == alice.id
    assert client.get("/api/customers/me", headers=bob.headers).get_json()["id"] == bob.id


@pytest.mark.parametrize(
    ("method", "path"), [("post", "/api/tokens"), ("delete", "/api/tokens/current")]
)
def test_token_endpoints_need_a_token(client, alice, method, path, as_storefront):
    before = stored_hashes(as_storefront, alice.id)
    assert_error(getattr(client, method)(path), 401, "unauthorized")
    headers = bearer("mp_" + "x" * 43)
    assert_error(getattr(client, method)(path, headers=headers), 401, "unauthorized")
    assert stored_hashes(as_storefront, alice.id) == before


# --- expiry --------------------------------------------------------------------------------


@pytest.fixture
def expiring(app_config):
    """The storefront with tokens that live an hour."""
    app = create_app({**app_config, "TOKEN_TTL": 3600})
    try:
        yield app.test_client()
    finally:
        app.extensions[EXTENSION].dispose()


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def test_with_a_ttl_tokens_expire_and_say_so(expiring, as_storefront, owner):
    registered = expiring.post("/api/customers", json={"email": "e@example.com", "name": "E"})
    assert registered.status_code == 201, registered.get_json()
    body = registered.get_json()
    now = owner.execute("SELECT now()").fetchone()[0]
    expires_at = parse(body["token_expires_at"])
    assert timedelta(minutes=59) < expires_at - now <= timedelta(hours=1)
    renewed = expiring.post("/api/tokens", headers=bearer(body["token"])).get_json()
    later = owner.execute("SELECT now()").fetchone()[0]
    assert expires_at < parse(renewed["expires_at"]) <= later + timedelta(hours=1)

    # An hour later (the stored expiry moved back: the database's clock decides)
    as_storefront.execute(
        "UPDATE storefront.api_tokens SET expires_at = now() - interval '1 second'"
        " WHERE token_hash = %s",
        [sha256(body["token"])],
    )
    response = expiring.get("/api/customers/me", headers=bearer(body["token"]))
    assert_error(response, 401, "unauthorized")
    assert "expired" in response.get_json()["error"]["message"]
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # An expired token cannot renew itself ...
    assert_error(expiring.post("/api/tokens", headers=bearer(body["token"])), 401, "unauthorized")
    # ... the renewed one still works, and issuing the next one drops the expired one.
    me = expiring.get("/api/customers/me", headers=bearer(renewed["token"]))
    assert me.status_code == 200
    customer = me.get_json()["id"]
    assert sha256(body["token"]) in stored_hashes(as_storefront, customer)
    assert expiring.post("/api/tokens", headers=bearer(renewed["token"])).status_code == 201
    assert sha256(body["token"]) not in stored_hashes(as_storefront, customer)
    assert len(stored_hashes(as_storefront, customer)) == 2


def test_the_ttl_comes_from_the_environment(monkeypatch, database):
    monkeypatch.setenv("STOREFRONT_TOKEN_TTL", "120")
    app = create_app({"DATABASE_URL": database.url("storefront")})
    try:
        assert app.config["TOKEN_TTL"] == 120
        assert (
            create_app({"DATABASE_URL": database.url("storefront"), "TOKEN_TTL": 0}).config[
                "TOKEN_TTL"
            ]
            == 0
        )  # and create_app's config wins over it
    finally:
        app.extensions[EXTENSION].dispose()


@pytest.mark.parametrize("value", ["-1", "soon", "1.5", "99999999999"])
def test_a_bad_ttl_is_one_line_naming_the_variable(monkeypatch, database, value):
    monkeypatch.setenv("STOREFRONT_TOKEN_TTL", value)
    with pytest.raises(ConfigError, match=r"^TOKEN_TTL \(STOREFRONT_TOKEN_TTL\) must be a whole"):
        create_app({"DATABASE_URL": database.url("storefront")})


@pytest.mark.slow
def test_a_bad_setting_stops_gunicorn_with_one_line(database):
    result = subprocess.run(
        [
            *(sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket"),
            "apps.flask_app:create_app()",
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "STOREFRONT_DATABASE_URL": database.url("storefront"),
            "STOREFRONT_REGISTRATION_LIMIT": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "REGISTRATION_LIMIT" in line]
    assert len(lines) == 1 and "must be a whole number from 1" in lines[0], result.stderr


def test_the_document_describes_the_token_endpoints(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    create, revoke = paths["/api/tokens"]["post"], paths["/api/tokens/current"]["delete"]
    assert set(create["responses"]) >= {"201", "401"}
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiToken"
    }
    assert set(revoke["responses"]) >= {"204", "401"}
    assert "content" not in revoke["responses"]["204"]
    for operation in (create, revoke):
        assert operation["security"] == [{"bearerAuth": []}]


def test_a_revocation_answers_no_content_at_all(client, alice):
    response = client.delete("/api/tokens/current", headers=alice.headers)
    assert response.status_code == 204
    assert "Content-Type" not in response.headers and response.get_data() == b""
