"""The runner core takes any DB-API 2 connection: the portable low_stock report on sqlite3,
placeholders rewritten per paramstyle, values never formatted into the SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from schema.errors import MergepointError
from schema.reports import ParameterError, bind, find, load, run
from schema.reports.runner import adapter_for


@pytest.fixture
def sqlite_shop() -> Iterator[sqlite3.Connection]:
    """An in-memory SQLite database with a ``shop`` schema: products and the settings."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("ATTACH DATABASE ':memory:' AS shop")
        conn.execute(
            "CREATE TABLE shop.products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL,"
            " name TEXT NOT NULL, stock INTEGER NOT NULL, active BOOLEAN NOT NULL)"
        )
        conn.execute("CREATE TABLE shop.settings (low_stock_threshold INTEGER NOT NULL)")
        conn.execute("INSERT INTO shop.settings VALUES (1)")
        conn.executemany(
            "INSERT INTO shop.products VALUES (?, ?, ?, ?, ?)",
            [
                (1, "TEA-1", "Green tea", 7, True),
                (2, "TEA-2", "Black tea", 2, True),
                (3, "COF-1", "Coffee", 0, True),
                (4, "OLD-1", "Old stock", 1, False),
            ],
        )
        yield conn
    finally:
        conn.close()


@pytest.mark.parametrize("paramstyle", [None, "named", "qmark"])
def test_low_stock_runs_on_sqlite3(sqlite_shop, paramstyle):
    report = find("low_stock")
    result = run(report, sqlite_shop, {"threshold": "2"}, paramstyle=paramstyle)
    assert result.columns == ("product_id", "sku", "name", "stock", "active")
    assert result.rows == [(3, "COF-1", "Coffee", 0, 1), (2, "TEA-2", "Black tea", 2, 1)]
    assert result.params == {"threshold": 2, "sku_prefix": "", "include_inactive": False}
    shops = run(report, sqlite_shop, {})  # no threshold given: the shop's own (1)
    assert [row[1] for row in shops.rows] == ["COF-1"] and shops.params["threshold"] is None

    typed = run(
        report, sqlite_shop, {"threshold": 7, "sku_prefix": "TEA-", "include_inactive": True}
    )
    assert [row[1] for row in typed.rows] == ["TEA-2", "TEA-1"]
    inactive = run(report, sqlite_shop, {"include_inactive": "yes"}, paramstyle=paramstyle)
    assert [row[1] for row in inactive.rows] == ["COF-1", "OLD-1"]  # the shop's threshold: 1


def test_text_that_looks_like_sql_is_only_ever_a_value_on_sqlite3(sqlite_shop):
    report = find("low_stock")
    for attempt in ("' OR '1'='1", "TEA-' --", "x'); DROP TABLE shop.products; --", ":threshold"):
        assert run(report, sqlite_shop, {"threshold": "100", "sku_prefix": attempt}).rows == []
    assert sqlite_shop.execute("SELECT count(*) FROM shop.products").fetchone() == (4,)


def test_placeholders_follow_the_paramstyle(tmp_path: Path):
    path = tmp_path / "sample.sql"
    path.write_text(
        "-- name: sample\n-- title: Sample\n-- description: A sample.\n"
        "-- param: a int = 1  A.\n-- param: b text = x  B.\n"
        "SELECT :a AS a, ':not_a_param' AS literal, :b || '%' AS b, :a + 1 AS c, x::text;\n"
    )
    report = load(path)

    class Conn:  # only its driver module's paramstyle matters here
        pass

    def rewritten(style: str) -> str:
        import aiosql

        queries = aiosql.from_str(
            report.source, adapter_for(Conn(), style), mandatory_parameters=False, attribute=None
        )
        return str(queries.sample.sql)

    assert "%(a)s AS a, ':not_a_param' AS literal, %(b)s || '%%'" in rewritten("pyformat")
    assert ":a AS a, ':not_a_param' AS literal, :b || '%'" in rewritten("named")
    assert "? AS a, ':not_a_param' AS literal, ? || '%' AS b, ? + 1" in rewritten("qmark")
    assert "%s AS a, ':not_a_param' AS literal, %s || '%%' AS b, %s + 1" in rewritten("format")
    assert ":1 AS a, ':not_a_param' AS literal, :2 || '%' AS b, :3 + 1" in rewritten("numeric")
    assert all("x::text" in rewritten(style) for style in ("pyformat", "qmark", "numeric"))
    with pytest.raises(MergepointError, match="supported paramstyles"):
        adapter_for(Conn(), "shouting")


def test_positional_paramstyles_bind_in_placeholder_order(fresh_db, tmp_path: Path):
    """psycopg also takes %s: a format-style rewrite binds the values in the right places."""
    path = tmp_path / "sample.sql"
    path.write_text(
        "-- name: sample\n-- title: Sample\n-- description: A sample.\n"
        "-- param: a int = 1  A.\n-- param: b text = x  B.\n"
        "SELECT CAST(:a AS int) AS a, CAST(:b AS text) || '%' AS b, CAST(:a AS int) * 10 AS c\n"
    )
    report = load(path)
    with fresh_db.connect("reporting") as conn:
        for style in ("pyformat", "format"):
            result = run(report, conn, {"a": "4", "b": "50"}, paramstyle=style)
            assert result.rows == [(4, "50%", 40)], style


def test_bind_checks_names_types_and_fills_defaults():
    report = find("top_products")
    today = date(2026, 3, 31)
    assert bind(report, {}, today=today) == {
        "limit": 10,
        "date_from": date(2026, 3, 2),
        "date_to": date(2026, 3, 31),
        "tz": "UTC",
    }
    assert bind(report, {"limit": " 5 ", "date_from": "today-6"}, today=today)["date_from"] == date(
        2026, 3, 25
    )
    with pytest.raises(
        ParameterError, match=r"has no parameter 'limt'; its parameters: limit \(int"
    ):
        bind(report, {"limt": "5"}, today=today)
    with pytest.raises(ParameterError, match="parameter limit: expected int between 1 and 10000"):
        bind(report, {"limit": "ten"}, today=today)
    with pytest.raises(ParameterError, match="parameter limit: expected int between 1 and 10000"):
        bind(report, {"limit": True}, today=today)
    with pytest.raises(ParameterError, match=r"parameter date_from: expected date \(YYYY-MM-DD"):
        bind(report, {"date_from": "2026-02-30"}, today=today)
    with pytest.raises(ParameterError, match=r"date_from \(2026-03-31\) is after date_to"):
        bind(report, {"date_from": "2026-03-31", "date_to": "2026-03-01"}, today=today)


def test_a_missing_required_parameter_names_it_and_its_type(tmp_path: Path):
    path = tmp_path / "one_day.sql"
    path.write_text(
        "-- name: one_day\n-- title: One day\n-- description: A day.\n"
        "-- param: day date  The day, e.g. 2026-03-01.\nSELECT :day AS day\n"
    )
    with pytest.raises(ParameterError, match=r"missing parameter day \(date \(YYYY-MM-DD"):
        bind(load(path), {})
