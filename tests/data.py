"""Test data for every test directory, written as the role that would write it.

The back office adds products, restocks them, changes prices and moves orders to paid or
shipped; the storefront registers customers, places orders (the database sets each line's
price) and cancels them. Reads go through the owner, who sees everything. Nothing here
bypasses a rule: every row goes through the triggers, as the apps' rows do. Only history
(an order placed on a given day) is written by the owner, as the seed writes it.

Every name is unique unless given, so tests sharing a database (the Django session
database) never collide. ``Shop(database)`` opens its connections lazily, autocommit;
``close()`` ends them (the fixtures do).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

ACTOR = "test"
PROGRESSION = {
    "placed": (),
    "paid": ("paid",),
    "shipped": ("paid", "shipped"),
    "cancelled": ("cancelled",),
}


def key_hash(session_key: str) -> str:
    """What identity stores for a back-office session key: its sha256, in hex."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def unique(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


class Shop:
    """Builders and probes for the shared ``shop`` tables of one database."""

    def __init__(self, database: Any):
        self.database = database  # tests.harness.Database: .connect(role, **kwargs)
        self._conns: dict[str, psycopg.Connection] = {}

    def connection(self, role: str = "owner") -> psycopg.Connection:
        """This builder's autocommit connection as ``role`` (opened on first use)."""
        if role not in self._conns:
            self._conns[role] = self.database.connect(role, autocommit=True)
        return self._conns[role]

    @property
    def conn(self) -> psycopg.Connection:
        """The owner's connection: it sees everything (and writes history)."""
        return self.connection("owner")

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def _one(self, role: str, query: str, params: Any = ()) -> Any:
        row = self.connection(role).execute(query, params).fetchone()
        assert row is not None, query
        return row[0]

    # --- the back office's writes -------------------------------------------------------

    def product(
        self,
        sku: str | None = None,
        price: int = 500,
        stock: int = 0,
        *,
        name: str | None = None,
        active: bool = True,
    ) -> int:
        """A product (it starts at stock 0) and, with ``stock``, its restock."""
        sku = sku or unique("SKU")
        pid = self._one(
            "backoffice",
            "INSERT INTO shop.products (sku, name, price_cents, active)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            [sku, name or f"Product {sku}", price, active],
        )
        if stock:
            self.restock(pid, stock)
        return int(pid)

    def restock(self, product_id: int, quantity: int, reason: str = "restock") -> None:
        conn = self.connection("backoffice")
        with conn.transaction():
            conn.execute("SELECT set_config('mergepoint.actor', %s, true)", [ACTOR])
            conn.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason) VALUES (%s, %s, %s)",
                [product_id, quantity, reason],
            )

    def set_price(self, product_id: int, price: int) -> None:
        self.connection("backoffice").execute(
            "UPDATE shop.products SET price_cents = %s WHERE id = %s", [price, product_id]
        )

    def deactivate(self, product_id: int) -> None:
        self.connection("backoffice").execute(
            "UPDATE shop.products SET active = false WHERE id = %s", [product_id]
        )

    def set_status(self, order_id: int, status: str, role: str = "backoffice") -> int:
        """One status step, as the back office takes it (or ``role``); rows changed."""
        return self.connection(role).execute(
            "UPDATE shop.orders SET status = %s WHERE id = %s", [status, order_id]
        ).rowcount

    def staff_session(
        self,
        user_id: int = 1,
        username: str | None = None,
        *,
        permissions: Sequence[str] = ("backoffice.view_order",),
        superuser: bool = False,
        expires_in: str = "1 hour",
    ) -> str:
        """A staff session as the back office starts one on login; returns its session key
        (the cookie's value: the database keeps only its hash)."""
        key = secrets.token_hex(16)
        self.connection("backoffice").execute(
            "SELECT identity.begin_staff_session(%s, %s, %s, %s, %s, now() + %s::interval)",
            [key_hash(key), user_id, username or unique("staff").lower(), superuser,
             list(permissions), expires_in],
        )  # fmt: skip
        return key

    # --- the storefront's writes --------------------------------------------------------

    def customer(self, email: str | None = None, name: str = "Test Customer") -> int:
        email = email or f"{unique('c').lower()}@example.test"
        return int(
            self._one(
                "storefront",
                "INSERT INTO shop.customers (email, name) VALUES (%s, %s) RETURNING id",
                [email, name],
            )
        )

    def order(
        self,
        lines: Mapping[int, int],
        *,
        customer: int | None = None,
        status: str = "placed",
        placed_at: str | None = None,
        role: str = "storefront",
        conn: psycopg.Connection | None = None,
    ) -> int:
        """An order with {product_id: quantity} lines, in one transaction, then ``status``.

        As the storefront places it: the order, then its lines in product-id order, each at
        the product's current price (the database takes the stock and keeps the total).
        ``placed_at`` makes it history, written by the owner as the seed writes history;
        ``conn`` writes it on a connection of the caller's (a race's own).
        """
        customer = customer or self.customer()
        conn = conn or self.connection("owner" if placed_at else role)
        with conn.transaction():
            if placed_at:
                oid = conn.execute(
                    "INSERT INTO shop.orders (customer_id, placed_at) VALUES (%s, %s) RETURNING id",
                    [customer, placed_at],
                ).fetchone()[0]  # type: ignore[index]
            else:
                oid = conn.execute(
                    "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
                ).fetchone()[0]  # type: ignore[index]
            for pid in sorted(lines):
                conn.execute(
                    "INSERT INTO shop.order_lines (order_id, product_id, quantity)"
                    " VALUES (%s, %s, %s)",
                    [oid, pid, lines[pid]],
                )
        for step in PROGRESSION[status]:
            self.set_status(oid, step, "storefront" if step == "cancelled" else "backoffice")
        return int(oid)

    def cancel(
        self, order_id: int, role: str = "storefront", conn: psycopg.Connection | None = None
    ) -> int:
        """The apps' cancel: one conditional update; the row count says who won."""
        return (conn or self.connection(role)).execute(
            "UPDATE shop.orders SET status = 'cancelled'"
            " WHERE id = %s AND status IN ('placed', 'paid')",
            [order_id],
        ).rowcount

    # --- what is there (read as the owner) ----------------------------------------------

    def stock(self, product_id: int) -> int:
        query = "SELECT stock FROM shop.products WHERE id = %s"
        return int(self._one("owner", query, [product_id]))

    def ledger_sum(self, product_id: int) -> int:
        return int(
            self._one(
                "owner",
                "SELECT coalesce(sum(delta), 0) FROM shop.stock_movements WHERE product_id = %s",
                [product_id],
            )
        )

    def status(self, order_id: int) -> str:
        return str(self._one("owner", "SELECT status FROM shop.orders WHERE id = %s", [order_id]))

    def order_movements(self, order_id: int, reason: str) -> list[tuple[int, int, str]]:
        """(product_id, delta, actor) of an order's sale or cancel movements, by product."""
        return self.conn.execute(
            "SELECT product_id, delta, actor FROM shop.stock_movements"
            " WHERE order_id = %s AND reason = %s ORDER BY product_id",
            [order_id, reason],
        ).fetchall()

    def product_movements(self, product_id: int, reason: str) -> list[tuple[int, str]]:
        """(delta, actor) of a product's movements with ``reason``, oldest first."""
        return self.conn.execute(
            "SELECT delta, actor FROM shop.stock_movements"
            " WHERE product_id = %s AND reason = %s ORDER BY id",
            [product_id, reason],
        ).fetchall()

    def staff_sessions(self, user_id: int | None = None) -> int:
        """Staff sessions stored (of ``user_id``), expired ones included."""
        return int(
            self._one(
                "owner",
                "SELECT count(*) FROM identity.staff_sessions"
                " WHERE %(user)s::bigint IS NULL OR user_id = %(user)s",
                {"user": user_id},
            )
        )

    def count(self, table: str) -> int:
        tables = {"orders", "order_lines", "customers", "products", "stock_movements"}
        if table == "api_tokens":  # the storefront's own namespace: only it may read it
            return int(self._one("storefront", "SELECT count(*) FROM storefront.api_tokens"))
        assert table in tables, table
        return int(self._one("owner", f"SELECT count(*) FROM shop.{table}"))
