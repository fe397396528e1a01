from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest


@pytest.fixture
def empty_db(pg):
    """A database with nothing in it, owned by the non-superuser owner."""
    name = f"{pg.prefix}e{os.urandom(3).hex()}"
    database = pg.create(name)
    try:
        yield database.owner_url
    finally:
        pg.drop(name)


@pytest.fixture
def owner(fresh_db) -> Iterator[psycopg.Connection]:
    """The owner's autocommit connection to a database of its own."""
    with fresh_db.connect(autocommit=True) as conn:
        yield conn


class Shop:
    """Small builders for test data, written as the owner would (plain SQL)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def product(self, sku: str = "P-1", price: int = 250, stock: int = 0) -> int:
        pid = self.conn.execute(
            "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, %s, %s) RETURNING id",
            [sku, f"Product {sku}", price],
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

    def customer(self, email: str = "ada@example.com") -> int:
        return self.conn.execute(
            "INSERT INTO shop.customers (email, name) VALUES (%s, 'Ada') RETURNING id", [email]
        ).fetchone()[0]

    def order(self, customer_id: int, lines: dict[int, int], conn=None) -> int:
        """An order with {product_id: quantity} lines, in one transaction."""
        conn = conn or self.conn
        with conn.transaction():
            oid = conn.execute(
                "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer_id]
            ).fetchone()[0]
            for pid in sorted(lines):
                conn.execute(
                    "INSERT INTO shop.order_lines"
                    " (order_id, product_id, quantity, unit_price_cents)"
                    " SELECT %s, id, %s, price_cents FROM shop.products WHERE id = %s",
                    [oid, lines[pid], pid],
                )
        return oid

    def stock(self, product_id: int) -> int:
        return self.conn.execute(
            "SELECT stock FROM shop.products WHERE id = %s", [product_id]
        ).fetchone()[0]

    def ledger_sum(self, product_id: int) -> int:
        return self.conn.execute(
            "SELECT coalesce(sum(delta), 0) FROM shop.stock_movements WHERE product_id = %s",
            [product_id],
        ).fetchone()[0]

    def movements(self, order_id: int, reason: str) -> list[tuple[int, int]]:
        return self.conn.execute(
            "SELECT product_id, delta FROM shop.stock_movements"
            " WHERE order_id = %s AND reason = %s ORDER BY product_id",
            [order_id, reason],
        ).fetchall()


@pytest.fixture
def shop(owner) -> Shop:
    return Shop(owner)
