"""POST /api/customers (a token, shown once, stored hashed) and GET /api/customers/me."""

from __future__ import annotations

import hashlib
import re

import jsonschema_rs
import pytest

from apps.flask_app.models import WHITESPACE, WHITESPACE_CLASS
from tests.flask_app.helpers import assert_error


def test_register_returns_the_customer_and_a_token_stored_only_as_a_hash(client, as_storefront):
    response = client.post(
        "/api/customers", json={"email": "  Ada@Example.com ", "name": " Ada Lovelace "}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"customer", "token", "token_expires_at"}
    assert body["token_expires_at"] is None  # TOKEN_TTL is 0 unless set
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
    # RFC 6750: no credentials, no error code; a token that is not (or no longer) valid,
    # error="invalid_token".
    expected = 'Bearer error="invalid_token"' if "mp_" in str(headers) else "Bearer"
    assert response.headers["WWW-Authenticate"] == expected


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


# --- the document's patterns mean what the API does ------------------------------------
#
# Clients (and schemathesis) read /openapi.json's patterns as ECMA-262 regexes; the API
# checks them with pydantic (Rust's regex). `\s` differs between the two (U+0085 is
# whitespace to Rust, not to ECMA-262), so a body one accepts and the other refuses was a
# "schema-valid request rejected". jsonschema_rs is the validator schemathesis uses.

REGISTRATIONS = [
    ("ada@example.com", "Ada"),
    ("a\u0085b@example.com", "Ada"),  # NEL inside: whitespace for Rust and Python, not ECMA
    ("a\ufeffb@example.com", "Ada"),  # BOM inside: whitespace for ECMA only
    ("a\u00a0b@example.com", "Ada"),
    ("a\u2028b@example.com", "Ada"),
    ("a\u200bb@example.com", "Ada"),  # zero-width space: not whitespace anywhere
    (" ada@example.com\t", "Ada"),
    ("\u3000ada@example.com\u0085", "Ada"),
    ("ada@example.com", " Ada\u00a0"),
    ("ada@example.com", "\u0085"),
    ("ada@example.com", " \u2003 "),
    ("ada@example.com", "Ada\u0085Lovelace"),
    ("ada@example.com", "A" * 199 + " "),
    ("ada@example.com", "A" * 200 + " "),
    ("a@b." + "c" * 248 + " ", "Ada"),
]


@pytest.fixture
def document_validator(client):
    document = client.get("/openapi.json").get_json()
    return jsonschema_rs.validator_for(document["components"]["schemas"]["CustomerCreate"])


@pytest.mark.parametrize("email, name", REGISTRATIONS)
def test_the_document_and_the_api_accept_the_same_registrations(
    client, as_storefront, document_validator, email, name
):
    body = {"email": email, "name": name}
    response = client.post("/api/customers", json=body)
    documented = document_validator.is_valid(body)
    assert response.status_code == (201 if documented else 422), response.get_json()
    if documented:  # stored without the whitespace around it
        customer = response.get_json()["customer"]
        assert customer["email"] == email.strip(WHITESPACE)
        assert customer["name"] == name.strip(WHITESPACE)
        stored = as_storefront.execute(
            "SELECT email, name FROM shop.customers WHERE id = %s", [customer["id"]]
        ).fetchone()
        assert stored == (customer["email"], customer["name"])


def patterns(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in patterns(value)]
    return []


def test_the_documents_patterns_use_no_dialect_dependent_shorthand(client):
    found = patterns(client.get("/openapi.json").get_json())
    assert len(found) >= 5  # sku (twice), email, name, idempotency key, query strings
    for pattern in found:
        # \s, \d, \w, \b and their negations mean different things in ECMA-262, Rust, Python
        assert not re.search(r"\\[sSdDwWbB]", pattern), pattern


def test_whitespace_is_one_set_for_the_patterns_and_the_stripping():
    pattern = re.compile(WHITESPACE_CLASS)
    for code in range(0x10000):
        char = chr(code)
        assert bool(pattern.fullmatch(char)) == (char in WHITESPACE), hex(code)
