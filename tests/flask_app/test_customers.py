"""POST /api/customers (a token, shown once, stored hashed) and GET /api/customers/me."""

from __future__ import annotations

import hashlib

import pytest

from tests.flask_app.helpers import assert_error


def test_register_returns_the_customer_and_a_token_stored_only_as_a_hash(client, as_storefront):
    response = client.post(
        "/api/customers", json={"email": "  Ada@Example.com ", "name": " Ada Lovelace "}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"customer", "token"}
    customer = body["customer"]
    assert customer["email"] == "Ada@Example.com"
    assert customer["name"] == "Ada Lovelace"
    assert set(customer) == {"id", "email", "name", "created_at"}
    token = body["token"]
    assert token.startswith("mp_") and len(token) >= 40
    stored = as_storefront.execute(
        "SELECT customer_id, token_hash FROM storefront.api_tokens"
    ).fetchall()
    assert stored == [(customer["id"], hashlib.sha256(token.encode()).hexdigest())]
    assert token not in str(stored)


def test_tokens_are_random(register):
    assert register().token != register().token


def test_me_with_the_token(client, alice, bob):
    response = client.get("/api/customers/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["id"] == alice.id
    assert client.get("/api/customers/me", headers=bob.headers).get_json()["id"] == bob.id


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
        {"Authorization": "Bearer mp_not-a-real-token"},
        {"Authorization": "Bearer " + "x" * 500},
    ],
)
def test_missing_malformed_or_unknown_token_is_401(client, alice, headers):
    response = client.get("/api/customers/me", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_email_is_unique_case_insensitively(client, alice, shop):
    before = shop.count("customers"), shop.count("api_tokens")
    response = client.post("/api/customers", json={"email": "ALICE@example.COM", "name": "A"})
    assert assert_error(response, 409, "email_taken") == {"email": "ALICE@example.COM"}
    assert (shop.count("customers"), shop.count("api_tokens")) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "no-at-sign", "name": "A"}, "email"),
        ({"email": "two@@example.com", "name": "A"}, "email"),
        ({"email": "sp ace@example.com", "name": "A"}, "email"),
        ({"email": "a@nodot", "name": "A"}, "email"),
        ({"email": "a\x00b@example.com", "name": "A"}, "email"),
        ({"email": "a@" + "x" * 250 + ".com", "name": "A"}, "email"),
        ({"email": "a@example.com", "name": ""}, "name"),
        ({"email": "a@example.com", "name": "   "}, "name"),
        ({"email": "a@example.com", "name": "x" * 201}, "name"),
        ({"email": "a@example.com", "name": "bell\x07"}, "name"),
        ({"email": "a@example.com", "name": 42}, "name"),
        ({"email": "a@example.com"}, "name"),
        ({"email": "a@example.com", "name": "A", "admin": True}, "admin"),
    ],
)
def test_invalid_registration_is_422_naming_the_field(client, shop, body, field):
    details = assert_error(client.post("/api/customers", json=body), 422, "validation_error")
    assert list(details["fields"]) == [field]
    assert shop.count("customers") == 0


def test_body_must_be_a_json_object(client):
    assert_error(client.post("/api/customers", json=["a@example.com"]), 422, "validation_error")
    assert_error(
        client.post("/api/customers", data="email=a@example.com"), 415, "unsupported_media_type"
    )
