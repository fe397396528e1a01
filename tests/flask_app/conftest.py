"""Fixtures for the storefront: app -> client on a database of its own (fresh_db)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from apps.flask_app import create_app
from apps.flask_app.db import EXTENSION


@pytest.fixture
def database(fresh_db):
    """The storefront's database: fresh_db (dropped with every session in it ended)."""
    return fresh_db


@pytest.fixture
def storefront_url(database, route, request) -> str:
    """The storefront role's URL: direct, or through PgBouncer (tests.harness.through_pooler)."""
    if route == "direct":
        return database.url("storefront")
    return request.getfixturevalue("pgbouncer").url(database, "storefront")


@pytest.fixture
def app_config(storefront_url) -> dict[str, object]:
    """create_app's config; race tests raise the pool size."""
    return {"DATABASE_URL": storefront_url, "TESTING": True}


@pytest.fixture
def app(app_config) -> Iterator[Flask]:
    app = create_app(app_config)
    try:
        yield app
    finally:
        app.extensions[EXTENSION].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def as_storefront(database) -> Iterator[psycopg.Connection]:
    """An autocommit connection as the storefront role (it owns the storefront namespace)."""
    with database.connect("storefront", autocommit=True) as conn:
        yield conn


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_emails = itertools.count(1)
_addresses = itertools.count(1)


def client_address() -> str:
    """Another client address (10.x.y.z): customers register from their own machines, so
    the registration limit per address (never raised here) does not get in the way."""
    n = next(_addresses)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


@pytest.fixture
def register(client: FlaskClient):
    """register(email=None) -> Account, through the API, each from its own address."""

    def make(email: str | None = None, name: str = "Ada Lovelace") -> Account:
        email = email or f"customer{next(_emails)}@example.com"
        response = client.post(
            "/api/customers",
            json={"email": email, "name": name},
            environ_base={"REMOTE_ADDR": client_address()},
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        return Account(body["customer"]["id"], email, body["token"])

    return make


@pytest.fixture
def alice(register) -> Account:
    return register("alice@example.com")


@pytest.fixture
def bob(register) -> Account:
    return register("bob@example.com")
