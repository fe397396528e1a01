"""Each built-in report's answer on the small shop (see conftest), as the reporting role."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from schema.reporting import run_as_reporting
from schema.reports import bind, find

MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-03"}


def rows(fresh_db, name: str, **params: str) -> list[dict[str, object]]:
    report = find(name)
    result = run_as_reporting(report, fresh_db.url("reporting"), bind(report, params), "30s")
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_sales_by_day_has_a_row_per_day_and_leaves_cancelled_orders_out(fresh_db, small_shop):
    assert rows(fresh_db, "sales_by_day", **MARCH) == [
        {
            "day": date(2026, 3, 1),
            "orders": 2,
            "units": 4,
            "revenue_cents": 1200,
            "cancelled_orders": 0,
        },
        {
            "day": date(2026, 3, 2),
            "orders": 1,
            "units": 3,
            "revenue_cents": 1200,
            "cancelled_orders": 0,
        },
        {
            "day": date(2026, 3, 3),
            "orders": 0,
            "units": 0,
            "revenue_cents": 0,
            "cancelled_orders": 1,
        },
    ]


def test_sales_by_day_counts_days_in_the_time_zone_given(fresh_db, small_shop):
    # o2 (23:30 UTC on March 1st) is March 2nd in Tokyo.
    tokyo = rows(fresh_db, "sales_by_day", **MARCH, tz="Asia/Tokyo")
    assert [(r["day"], r["orders"], r["units"], r["revenue_cents"]) for r in tokyo] == [
        (date(2026, 3, 1), 1, 3, 900),
        (date(2026, 3, 2), 2, 4, 1500),
        (date(2026, 3, 3), 0, 0, 0),
    ]


def test_sales_by_day_defaults_to_the_last_30_days_ending_today(fresh_db, owner, small_shop):
    owner.execute(
        "UPDATE shop.orders SET placed_at = now() WHERE id = %s", [small_shop.orders["o3"]]
    )
    result = rows(fresh_db, "sales_by_day")
    assert len(result) == 30
    assert (
        result[-1]["day"] == owner.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
    )
    assert result[-1]["revenue_cents"] == 1200


def test_top_products_ranks_by_revenue_within_the_range(fresh_db, small_shop):
    p = small_shop.products
    assert rows(fresh_db, "top_products", limit="2", **MARCH) == [
        {
            "product_id": p["COF-1"],
            "sku": "COF-1",
            "name": "Product COF-1",
            "units": 4,
            "revenue_cents": 1600,
            "orders": 2,
        },
        {
            "product_id": p["TEA-1"],
            "sku": "TEA-1",
            "name": "Product TEA-1",
            "units": 2,
            "revenue_cents": 500,
            "orders": 1,
        },
    ]
    everything = rows(fresh_db, "top_products", date_from="2026-02-01", date_to="2026-03-31")
    assert [(r["sku"], r["units"]) for r in everything] == [
        ("COF-1", 4),
        ("TEA-1", 3),
        ("TEA-2", 1),
    ]


def test_low_stock_lists_active_products_at_or_below_the_threshold(fresh_db, small_shop):
    p = small_shop.products
    assert rows(fresh_db, "low_stock") == [
        {
            "product_id": p["TEA-2"],
            "sku": "TEA-2",
            "name": "Product TEA-2",
            "stock": 2,
            "active": True,
        }
    ]
    with_inactive = rows(fresh_db, "low_stock", include_inactive="true")
    assert [(r["sku"], r["stock"]) for r in with_inactive] == [("OLD-1", 1), ("TEA-2", 2)]
    teas = rows(fresh_db, "low_stock", threshold="7", sku_prefix="TEA-")
    assert [(r["sku"], r["stock"]) for r in teas] == [("TEA-2", 2), ("TEA-1", 7)]
    assert rows(fresh_db, "low_stock", threshold="0") == []


def test_customer_lifetime_value_ranks_customers_by_what_they_spent(fresh_db, small_shop):
    c = small_shop.customers
    result = rows(fresh_db, "customer_lifetime_value")
    assert [(r["customer_id"], r["orders"], r["lifetime_value_cents"]) for r in result] == [
        (c["ada"], 3, 2350),  # o1 + o3 + o5
        (c["bob"], 1, 300),  # o2; o4 was cancelled; cy never ordered
    ]
    ada = result[0]
    assert ada["email"] == "ada@example.com" and ada["average_order_cents"] == 783
    assert isinstance(ada["first_order_at"], datetime)
    assert ada["first_order_at"].isoformat() == "2026-02-27T08:00:00+00:00"
    assert ada["last_order_at"].isoformat() == "2026-03-02T09:00:00+00:00"
    assert [r["customer_id"] for r in rows(fresh_db, "customer_lifetime_value", limit="1")] == [
        c["ada"]
    ]


def test_order_status_funnel_lists_every_status_in_order(fresh_db, small_shop):
    assert rows(fresh_db, "order_status_funnel", **MARCH) == [
        {"status": "placed", "orders": 1, "share_percent": Decimal("25.0"), "value_cents": 1200},
        {"status": "paid", "orders": 1, "share_percent": Decimal("25.0"), "value_cents": 300},
        {"status": "shipped", "orders": 1, "share_percent": Decimal("25.0"), "value_cents": 900},
        {"status": "cancelled", "orders": 1, "share_percent": Decimal("25.0"), "value_cents": 1000},
    ]
    empty = rows(fresh_db, "order_status_funnel", date_from="2025-01-01", date_to="2025-01-31")
    assert [(r["status"], r["orders"], r["share_percent"]) for r in empty] == [
        ("placed", 0, None),
        ("paid", 0, None),
        ("shipped", 0, None),
        ("cancelled", 0, None),
    ]


def test_ledger_audit_is_empty_on_a_consistent_shop(fresh_db, small_shop):
    assert rows(fresh_db, "ledger_audit") == []


def test_every_report_runs_with_its_defaults_on_an_empty_database(fresh_db):
    from schema.reports import load_all

    counts = {name: len(rows(fresh_db, name)) for name in load_all()}
    assert counts == {
        "customer_lifetime_value": 0,
        "ledger_audit": 0,
        "low_stock": 0,
        "order_status_funnel": 4,  # every status, at 0
        "sales_by_day": 30,  # every day, at 0
        "top_products": 0,
    }
