"""ledger_audit catches each kind of break, made by the owner with the rules switched off.

Each break is committed in its own cloned database (the reporting role only sees committed
data) with just the triggers (or unique index) it has to get past disabled, so the break is
exactly the one named; the triggers are enabled again before commit.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from schema.reporting import run_as_reporting
from schema.reports import find

from .conftest import SmallShop

Row = tuple[str, int | None, int | None, int, int]


def audit(fresh_db) -> list[Row]:
    result = run_as_reporting(find("ledger_audit"), fresh_db.url("reporting"), {}, "30s")
    assert result.columns == ("problem", "product_id", "order_id", "expected", "actual")
    return [tuple(row) for row in result.rows]  # type: ignore[misc]


def report_order(row: Row) -> tuple[str, float, float]:
    """The report's ORDER BY problem, product_id, order_id (NULLs last, as PostgreSQL sorts)."""
    return (row[0], row[1] if row[1] is not None else float("inf"), row[2] or float("inf"))


def with_triggers_off(
    conn: psycopg.Connection, table: str, triggers: str, *statements: tuple
) -> None:
    """Run ``statements`` as the owner with ``triggers`` (a name or USER) disabled on ``table``."""
    with conn.transaction():
        conn.execute(f"ALTER TABLE shop.{table} DISABLE TRIGGER {triggers}")
        for statement, params in statements:
            conn.execute(statement, params)
        conn.execute(f"ALTER TABLE shop.{table} ENABLE TRIGGER {triggers}")


def stock_written_directly(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    tea2 = shop.products["TEA-2"]
    with_triggers_off(
        conn,
        "products",
        "USER",
        ("UPDATE shop.products SET stock = stock + 5 WHERE id = %s", [tea2]),
    )
    return [("stock_differs_from_ledger", tea2, None, 2, 7)]


def sale_movement_deleted(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    tea2, o2 = shop.products["TEA-2"], shop.orders["o2"]
    with_triggers_off(
        conn,
        "stock_movements",
        "USER",
        (
            "DELETE FROM shop.stock_movements WHERE order_id = %s AND product_id = %s"
            " AND reason = 'sale'",
            [o2, tea2],
        ),
    )
    # The stock still shows the sale the ledger no longer has.
    return [("sale_missing", tea2, o2, -1, 0), ("stock_differs_from_ledger", tea2, None, 3, 2)]


def sale_movement_doubled(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    tea2, o2 = shop.products["TEA-2"], shop.orders["o2"]
    # A second sale row is what the partial unique index exists to refuse: drop it, and let
    # only the reserved-reason guard off, so the movement still takes its stock as a real
    # sale would (stock and ledger stay in step; only the doubling is wrong).
    conn.execute("DROP INDEX shop.uq_stock_movements_sale_order_id_product_id")
    with_triggers_off(
        conn,
        "stock_movements",
        "stock_movements_guard_reason",
        (
            "INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)"
            " VALUES (%s, -1, 'sale', %s)",
            [tea2, o2],
        ),
    )
    return [("sale_duplicated", tea2, o2, -1, -2)]


def sale_quantity_changed(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    cof1, o3 = shop.products["COF-1"], shop.orders["o3"]
    with conn.transaction():
        conn.execute("ALTER TABLE shop.stock_movements DISABLE TRIGGER stock_movements_append_only")
        conn.execute(
            "ALTER TABLE shop.stock_movements DISABLE TRIGGER stock_movements_guard_reason"
        )
        conn.execute(
            "DELETE FROM shop.stock_movements WHERE order_id = %s AND product_id = %s"
            " AND reason = 'sale'",
            [o3, cof1],
        )
        conn.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)"
            " VALUES (%s, -2, 'sale', %s)",
            [cof1, o3],
        )
        conn.execute("ALTER TABLE shop.stock_movements ENABLE TRIGGER stock_movements_append_only")
        conn.execute("ALTER TABLE shop.stock_movements ENABLE TRIGGER stock_movements_guard_reason")
    # 16 + 3 (deleted sale) - 2 (new sale) = 17 in the ledger; the stock took both: 14.
    return [
        ("sale_quantity_differs", cof1, o3, -3, -2),
        ("stock_differs_from_ledger", cof1, None, 17, 14),
    ]


def cancel_without_return(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    cof1, o3 = shop.products["COF-1"], shop.orders["o3"]
    with_triggers_off(
        conn,
        "orders",
        "orders_return_stock",
        ("UPDATE shop.orders SET status = 'cancelled' WHERE id = %s", [o3]),
    )
    return [("cancel_missing", cof1, o3, 3, 0)]


def cancel_returned_twice(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    tea1, o4 = shop.products["TEA-1"], shop.orders["o4"]
    conn.execute("DROP INDEX shop.uq_stock_movements_cancel_order_id_product_id")
    with_triggers_off(
        conn,
        "stock_movements",
        "stock_movements_guard_reason",
        (
            "INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)"
            " VALUES (%s, 4, 'cancel', %s)",
            [tea1, o4],
        ),
    )
    return [("cancel_duplicated", tea1, o4, 4, 8)]


def stock_returned_for_a_live_order(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    cof1, o3 = shop.products["COF-1"], shop.orders["o3"]  # o3 is still placed
    with_triggers_off(
        conn,
        "stock_movements",
        "stock_movements_guard_reason",
        (
            "INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)"
            " VALUES (%s, 3, 'cancel', %s)",
            [cof1, o3],
        ),
    )
    return [("cancel_without_cancelled_order", cof1, o3, 0, 3)]


def order_total_written(conn: psycopg.Connection, shop: SmallShop) -> list[Row]:
    o3 = shop.orders["o3"]
    with_triggers_off(
        conn, "orders", "USER", ("UPDATE shop.orders SET total_cents = 1201 WHERE id = %s", [o3])
    )
    return [("order_total_differs", None, o3, 1200, 1201)]


BREAKS: list[Callable[[psycopg.Connection, SmallShop], list[Row]]] = [
    stock_written_directly,
    sale_movement_deleted,
    sale_movement_doubled,
    sale_quantity_changed,
    cancel_without_return,
    cancel_returned_twice,
    stock_returned_for_a_live_order,
    order_total_written,
]


@pytest.mark.parametrize("make_break", BREAKS, ids=[b.__name__ for b in BREAKS])
def test_ledger_audit_names_each_break(fresh_db, owner, small_shop, make_break):
    assert audit(fresh_db) == []
    expected = make_break(owner, small_shop)
    assert audit(fresh_db) == sorted(expected, key=report_order)
    # The rules are back on: the owner's break did not leave a trigger disabled.
    disabled = owner.execute(
        "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'shop' AND NOT t.tgisinternal AND t.tgenabled = 'D'"
    ).fetchone()[0]
    assert disabled == 0


def test_ledger_audit_reports_several_breaks_at_once(fresh_db, owner, small_shop):
    expected = stock_written_directly(owner, small_shop) + cancel_without_return(owner, small_shop)
    assert audit(fresh_db) == sorted(expected, key=report_order)


def test_reporting_views_grant_the_reporting_role_select_and_nothing_else(reporting):
    for view in ("reporting.ledger_audit", "reporting.customer_lifetime_value"):
        privileges = reporting.execute(
            "SELECT privilege, has_table_privilege(%s, privilege)"
            " FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS privilege",
            [view],
        ).fetchall()
        assert dict(privileges) == {
            "SELECT": True,
            "INSERT": False,
            "UPDATE": False,
            "DELETE": False,
            "TRUNCATE": False,
        }, view
