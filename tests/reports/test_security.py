"""The reporting role reads and nothing else; text parameters are values, never SQL."""

from __future__ import annotations

import psycopg
import pytest

from schema.errors import MergepointError
from schema.reporting import run_as_reporting
from schema.reports import bind, find


def run_low_stock(fresh_db, **params: str) -> list[tuple]:
    report = find("low_stock")
    return run_as_reporting(report, fresh_db.url("reporting"), bind(report, params), "30s").rows


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO shop.customers (email, name) VALUES ('r@example.com', 'R')",
        "INSERT INTO shop.stock_movements (product_id, delta, reason) VALUES (1, 5, 'restock')",
        "UPDATE shop.orders SET status = 'paid'",
        "DELETE FROM shop.order_lines",
    ],
)
def test_the_reporting_role_cannot_write(fresh_db, small_shop, statement):
    with fresh_db.connect("reporting", autocommit=True) as conn:
        # Its sessions are read-only by default ...
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(statement)
        # ... and with that switched off, it still holds no privilege to write.
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_sql_in_a_text_parameter_is_only_a_value(fresh_db, owner, small_shop):
    assert [row[1] for row in run_low_stock(fresh_db, threshold="100", sku_prefix="TEA-")] == [
        "TEA-2",
        "TEA-1",
    ]
    for attempt in (
        "' OR '1'='1",
        "TEA-' --",
        "TEA-'; DELETE FROM shop.products; --",
        "%(threshold)s",
        "%s",
        ":threshold",
        "$1",
    ):
        assert run_low_stock(fresh_db, threshold="100", sku_prefix=attempt) == [], attempt

    # A time zone must be an IANA name: a hostile one is refused before anything runs.
    report = find("sales_by_day")
    hostile = "UTC'; DROP TABLE shop.orders; --"
    with pytest.raises(MergepointError) as err:
        run_as_reporting(report, fresh_db.url("reporting"), bind(report, {"tz": hostile}), "30s")
    assert str(err.value) == (
        "parameter tz: expected time zone (an IANA name such as UTC or Europe/Paris),"
        f" got {hostile!r}"
    )
    assert owner.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == 5
    assert owner.execute("SELECT count(*) FROM shop.products").fetchone()[0] == 4
