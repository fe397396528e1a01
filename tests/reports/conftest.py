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
from tests.data import Shop
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
    ("o1", "ada", "2026-03-01 10:00+00", {"TEA-1": 2, "COF-1": 1}, "shipped"),
    ("o2", "bob", "2026-03-01 23:30+00", {"TEA-2": 1}, "paid"),
    ("o3", "ada", "2026-03-02 09:00+00", {"COF-1": 3}, "placed"),
    ("o4", "bob", "2026-03-03 12:00+00", {"TEA-1": 4}, "cancelled"),
    ("o5", "ada", "2026-02-27 08:00+00", {"TEA-1": 1}, "shipped"),
]


def build_small_shop(shop: Shop) -> SmallShop:
    """Write the shop above, through the normal rules (triggers on): products and
    restocks by the back office, customers by the storefront, the orders as history."""
    small = SmallShop()
    for sku, price, stock, active in PRODUCTS:
        small.products[sku] = shop.product(sku, price, stock, active=active)
    for name in ("ada", "bob", "cy"):
        small.customers[name] = shop.customer(f"{name}@example.com", name.title())
    for key, customer, placed_at, lines, status in ORDERS:
        small.orders[key] = shop.order(
            {small.products[sku]: quantity for sku, quantity in lines.items()},
            customer=small.customers[customer],
            status=status,
            placed_at=placed_at,
        )
    return small


@pytest.fixture
def small_shop(shop) -> SmallShop:
    return build_small_shop(shop)


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
