"""Committed rows in the session database, written the way the other side writes them.

The back office may not insert customers, orders or lines; the storefront does. These
helpers write as the storefront role (and products and restocks as the back office
role), each in its own committed transaction on a plain psycopg connection, so Django
sees the rows whatever transaction it is in. Every name is unique: tests share the
session database and never assume it is empty.
"""

from __future__ import annotations

import uuid

import psycopg


def unique(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


class ShopWriter:
    def __init__(self, storefront: psycopg.Connection, backoffice: psycopg.Connection):
        self.storefront = storefront
        self.backoffice = backoffice

    def product(self, stock: int = 0, price_cents: int = 1250, active: bool = True) -> int:
        sku = unique("SKU")
        with self.backoffice.transaction():
            pid = self.backoffice.execute(
                "INSERT INTO shop.products (sku, name, price_cents, active)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                [sku, f"Test product {sku}", price_cents, active],
            ).fetchone()[0]
            if stock:
                self.backoffice.execute("SELECT set_config('mergepoint.actor', 'test', true)")
                self.backoffice.execute(
                    "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                    " VALUES (%s, %s, 'restock')",
                    [pid, stock],
                )
        return pid

    def customer(self) -> int:
        with self.storefront.transaction():
            return self.storefront.execute(
                "INSERT INTO shop.customers (email, name)"
                " VALUES (%s, 'Test Customer') RETURNING id",
                [f"{unique('c').lower()}@example.test"],
            ).fetchone()[0]

    def order(
        self, lines: dict[int, int], status: str = "placed", customer: int | None = None
    ) -> int:
        """An order with {product_id: quantity} lines (the database takes the stock)."""
        customer = customer or self.customer()
        conn = self.storefront
        with conn.transaction():
            oid = conn.execute(
                "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
            ).fetchone()[0]
            for pid in sorted(lines):
                conn.execute(
                    "INSERT INTO shop.order_lines"
                    " (order_id, product_id, quantity, unit_price_cents)"
                    " SELECT %s, id, %s, price_cents FROM shop.products WHERE id = %s",
                    [oid, lines[pid], pid],
                )
        path = {"placed": [], "paid": ["paid"], "shipped": ["paid", "shipped"]}.get(
            status, ["cancelled"] if status == "cancelled" else None
        )
        if path is None:
            raise ValueError(status)
        for step in path:
            with conn.transaction():
                conn.execute("UPDATE shop.orders SET status = %s WHERE id = %s", [step, oid])
        return oid

    def stock(self, product_id: int) -> int:
        return self.backoffice.execute(
            "SELECT stock FROM shop.products WHERE id = %s", [product_id]
        ).fetchone()[0]

    def ledger_sum(self, product_id: int) -> int:
        return self.backoffice.execute(
            "SELECT coalesce(sum(delta), 0) FROM shop.stock_movements WHERE product_id = %s",
            [product_id],
        ).fetchone()[0]

    def status(self, order_id: int) -> str:
        return self.backoffice.execute(
            "SELECT status FROM shop.orders WHERE id = %s", [order_id]
        ).fetchone()[0]

    def movements(self, product_id: int, reason: str) -> list[tuple[int, str]]:
        return self.backoffice.execute(
            "SELECT delta, actor FROM shop.stock_movements WHERE product_id = %s AND reason = %s"
            " ORDER BY id",
            [product_id, reason],
        ).fetchall()


def storefront_cancel(conn: psycopg.Connection, order_id: int) -> int:
    """The storefront's cancel: one conditional update; the row count says who won."""
    with conn.transaction():
        return conn.execute(
            "UPDATE shop.orders SET status = 'cancelled'"
            " WHERE id = %s AND status IN ('placed', 'paid')",
            [order_id],
        ).rowcount
