"""Fixtures for the report tests: a small shop with known numbers, and the report CLI.

The shop (all times UTC, March 2026)::

    products  TEA-1 250c restock 10   TEA-2 300c restock 3   COF-1 400c restock 20
              OLD-1 100c restock 1 (inactive)
    orders    o1 ada 03-01 10:00  TEA-1 x2, COF-1 x1  =  900  shipped
              o2 bob 03-01 23:30  TEA-2 x1            =  300  paid
              o3 ada 03-02 09:00  COF-1 x3            = 1200  placed
              o4 bob 03-03 12:00  TEA-1 x4            = 1000  cancelled (stock returned)
              o5 ada 02-27 08:00  TEA-1 x1            =  250  shipped (before the range)
    stock     TEA-1 7, TEA-2 2, COF-1 16, OLD-1 1;  customer cy has no orders
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from schema.cli import Group
from schema.cli.report import report
from tests.support import one_line_error


@dataclass
class SmallShop:
    products: dict[str, int] = field(default_factory=dict)  # sku -> id
    customers: dict[str, int] = field(default_factory=dict)  # name -> id
    orders: dict[str, int] = field(default_factory=dict)  # o1.. -> id


PRODUCTS = [
    ("TEA-1", 250, 10, True),
    ("TEA-2", 300, 3, True),
    ("COF-1", 400, 20, True),
    ("OLD-1", 100, 1, False),
]
ORDERS = [
    ("o1", "ada", "2026-03-01 10:00+00", {"TEA-1": 2, "COF-1": 1}, ("paid", "shipped")),
    ("o2", "bob", "2026-03-01 23:30+00", {"TEA-2": 1}, ("paid",)),
    ("o3", "ada", "2026-03-02 09:00+00", {"COF-1": 3}, ()),
    ("o4", "bob", "2026-03-03 12:00+00", {"TEA-1": 4}, ("cancelled",)),
    ("o5", "ada", "2026-02-27 08:00+00", {"TEA-1": 1}, ("paid", "shipped")),
]


def build_small_shop(conn: psycopg.Connection) -> SmallShop:
    """Write the shop above as the owner, through the normal rules (triggers on)."""
    shop = SmallShop()
    with conn.transaction():
        for sku, price, stock, active in PRODUCTS:
            pid = conn.execute(
                "INSERT INTO shop.products (sku, name, price_cents, active)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                [sku, f"Product {sku}", price, active],
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason)"
                " VALUES (%s, %s, 'restock')",
                [pid, stock],
            )
            shop.products[sku] = pid
        for name in ("ada", "bob", "cy"):
            shop.customers[name] = conn.execute(
                "INSERT INTO shop.customers (email, name) VALUES (%s, %s) RETURNING id",
                [f"{name}@example.com", name.title()],
            ).fetchone()[0]  # type: ignore[index]
        for key, customer, placed_at, lines, statuses in ORDERS:
            oid = conn.execute(
                "INSERT INTO shop.orders (customer_id, placed_at) VALUES (%s, %s) RETURNING id",
                [shop.customers[customer], placed_at],
            ).fetchone()[0]  # type: ignore[index]
            for sku, quantity in sorted(lines.items(), key=lambda item: shop.products[item[0]]):
                conn.execute(
                    "INSERT INTO shop.order_lines"
                    " (order_id, product_id, quantity, unit_price_cents)"
                    " SELECT %s, id, %s, price_cents FROM shop.products WHERE id = %s",
                    [oid, quantity, shop.products[sku]],
                )
            for status in statuses:
                conn.execute("UPDATE shop.orders SET status = %s WHERE id = %s", [status, oid])
            shop.orders[key] = oid
    return shop


@pytest.fixture
def owner(fresh_db) -> Iterator[psycopg.Connection]:
    with fresh_db.connect(autocommit=True) as conn:
        yield conn


@pytest.fixture
def small_shop(owner) -> SmallShop:
    return build_small_shop(owner)


@pytest.fixture
def reporting(fresh_db) -> Iterator[psycopg.Connection]:
    """The reporting role's connection (its transactions are read-only by default)."""
    with fresh_db.connect("reporting") as conn:
        yield conn


class Cli:
    """``mergepoint report …`` through click's runner, mounted as schema/cli.py mounts it."""

    def __init__(self, env: dict[str, str | None]):
        self.group = Group(name="mergepoint", commands={"report": report})
        self.env = env

    def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(self.group, ["report", *args], env={**self.env, **(env or {})})


@pytest.fixture
def cli(fresh_db) -> Cli:
    return Cli(
        {"REPORTING_DATABASE_URL": fresh_db.url("reporting"), "MERGEPOINT_REPORTS_DIR": None}
    )


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    """A directory for reports of a test's own (used with --reports-dir)."""
    directory = tmp_path / "reports"
    directory.mkdir()
    return directory


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Failed with exit 1, one line on stderr containing every fragment, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    one_line_error(result.stderr, *fragments)
