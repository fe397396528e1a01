"""Fixtures for the storefront: app -> client on a database of its own (fresh_db)."""

from __future__ import annotations

import itertools
import time
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
    """fresh_db, dropped only once the app roles' connections have really gone.

    The harness drops a clone as its owner, who may not terminate the storefront role's
    backends; a backend still exiting after its connection closed would fail that DROP.
    Everything here that connects depends on this fixture, so it is torn down last.
    """
    yield fresh_db
    deadline = time.monotonic() + 10
    with fresh_db.connect(autocommit=True) as conn:
        while (
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND usename <> current_user"
            ).fetchone()[0]
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)


@pytest.fixture
def app_config(database) -> dict[str, object]:
    """create_app's config; race tests raise the pool size."""
    return {"DATABASE_URL": database.url("storefront"), "TESTING": True}


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
def owner(database) -> Iterator[psycopg.Connection]:
    """The owner's autocommit connection: seeds data and checks what the app wrote."""
    with database.connect(autocommit=True) as conn:
        yield conn


class Catalog:
    """Test data written as the owner (the storefront role may not write products).

    ``storefront`` reads the app's own namespace, which the owner may not read.
    """

    def __init__(self, conn: psycopg.Connection, storefront: psycopg.Connection):
        self.conn = conn
        self.storefront = storefront

    def product(self, sku: str, price: int = 500, stock: int = 0, name: str | None = None) -> int:
        pid = self.conn.execute(
            "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, %s, %s) RETURNING id",
            [sku, name or f"Product {sku}", price],
        ).fetchone()[0]
        if stock:
            self.restock(pid, stock)
        return pid

    def restock(self, product_id: int, quantity: int) -> None:
        self.conn.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " VALUES (%s, %s, 'restock')",
            [product_id, quantity],
        )

    def deactivate(self, product_id: int) -> None:
        self.conn.execute("UPDATE shop.products SET active = false WHERE id = %s", [product_id])

    def set_price(self, product_id: int, price: int) -> None:
        self.conn.execute(
            "UPDATE shop.products SET price_cents = %s WHERE id = %s", [price, product_id]
        )

    def set_status(self, order_id: int, status: str) -> None:
        self.conn.execute("UPDATE shop.orders SET status = %s WHERE id = %s", [status, order_id])

    def stock(self, product_id: int) -> int:
        return self.conn.execute(
            "SELECT stock FROM shop.products WHERE id = %s", [product_id]
        ).fetchone()[0]

    def ledger_sum(self, product_id: int) -> int:
        return self.conn.execute(
            "SELECT coalesce(sum(delta), 0) FROM shop.stock_movements WHERE product_id = %s",
            [product_id],
        ).fetchone()[0]

    def count(self, table: str) -> int:
        tables = {"orders", "order_lines", "customers", "stock_movements", "api_tokens"}
        assert table in tables
        if table == "api_tokens":
            query = "SELECT count(*) FROM storefront.api_tokens"
            return self.storefront.execute(query).fetchone()[0]
        return self.conn.execute(f"SELECT count(*) FROM shop.{table}").fetchone()[0]

    def movements(self, order_id: int, reason: str) -> list[tuple[int, int, str]]:
        return self.conn.execute(
            "SELECT product_id, delta, actor FROM shop.stock_movements"
            " WHERE order_id = %s AND reason = %s ORDER BY product_id",
            [order_id, reason],
        ).fetchall()


@pytest.fixture
def as_storefront(database) -> Iterator[psycopg.Connection]:
    """An autocommit connection as the storefront role (it owns the storefront namespace)."""
    with database.connect("storefront", autocommit=True) as conn:
        yield conn


@pytest.fixture
def catalog(owner, as_storefront) -> Catalog:
    return Catalog(owner, as_storefront)


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_emails = itertools.count(1)


@pytest.fixture
def register(client: FlaskClient):
    """register(email=None) -> Account, through the API."""

    def make(email: str | None = None, name: str = "Ada Lovelace") -> Account:
        email = email or f"customer{next(_emails)}@example.com"
        response = client.post("/api/customers", json={"email": email, "name": name})
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
