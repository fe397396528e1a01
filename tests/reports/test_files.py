"""Report files: every built-in one loads with a full header; a malformed one fails in one line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from schema.errors import MergepointError
from schema.reports import BUILTIN_DIR, Param, ParameterError, ReportFileError, find, load, load_all
from schema.reports.params import parse_declaration

HEADER = "-- name: sample\n-- title: Sample\n-- description: A sample report.\n"
EXPECTED = {
    "sales_by_day": ["date_from", "date_to", "tz"],
    "top_products": ["limit", "date_from", "date_to", "tz"],
    "low_stock": ["threshold", "sku_prefix", "include_inactive"],
    "ledger_audit": [],
    "customer_lifetime_value": ["limit"],
    "order_status_funnel": ["date_from", "date_to", "tz"],
}


def test_the_builtin_reports_have_a_title_description_typed_params_and_an_example():
    reports = load_all()
    assert {name: [p.name for p in r.params] for name, r in reports.items()} == EXPECTED
    for report in reports.values():
        assert report.title and len(report.description) > 40, report.name
        assert report.examples and report.examples[0].startswith(
            f"mergepoint report run {report.name}"
        ), report.name
        assert all(p.help and p.default is not None for p in report.params), report.name
        assert report.sql.lstrip().upper().startswith(("SELECT", "WITH")), report.name
        assert report.path.parent == BUILTIN_DIR


def test_a_header_spans_continuation_lines():
    report = find("ledger_audit")
    assert report.description.startswith("Every place where stock, ledger and orders disagree;")
    assert "order_total_differs" in report.description
    assert "\n" not in report.description


def test_unknown_report_lists_the_known_ones():
    with pytest.raises(MergepointError) as err:
        find("sales")
    assert str(err.value) == (
        "unknown report 'sales'; known reports: customer_lifetime_value, ledger_audit,"
        " low_stock, order_status_funnel, sales_by_day, top_products (see: mergepoint report list)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1\n", "the first line must be '-- name: sample'"),
        ("-- name: other\n-- title: T\n-- description: D.\nSELECT 1\n", "must match the file name"),
        ("-- name: sample\n-- description: D.\nSELECT 1\n", "exactly one '-- title:' line"),
        (HEADER + "-- colour: blue\nSELECT 1\n", "expected one of title:, description:"),
        (HEADER + "SELECT :day\n", "the SQL uses undeclared parameter(s) day"),
        (
            HEADER + "-- param: day date  The day.\nSELECT 1\n",
            "declared parameter(s) day are not used",
        ),
        (HEADER + "-- param: day datetime  The day.\nSELECT :day\n", "unknown type 'datetime'"),
        (HEADER + "-- param: day date = tomorrow  The day.\nSELECT :day\n", "bad default"),
        (HEADER + "-- param: n int(1..5) = 9  N.\nSELECT :n\n", "bad default"),
        (HEADER + "-- param: day date\nSELECT :day\n", "add a help text"),
        (
            HEADER + "-- param: t text(1..2) = a  T.\nSELECT :t\n",
            "only int parameters take a range",
        ),
        (
            HEADER + "-- param: n int = 1  N.\n-- param: n int = 2  N.\nSELECT :n\n",
            "parameter n is declared twice",
        ),
    ],
)
def test_a_malformed_report_file_fails_in_one_line(tmp_path: Path, text: str, message: str):
    path = tmp_path / "sample.sql"
    path.write_text(text)
    with pytest.raises(ReportFileError) as err:
        load(path)
    assert message in str(err.value)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_report_of_ones_own_may_not_shadow_a_builtin_one(tmp_path: Path):
    (tmp_path / "low_stock.sql").write_text(
        "-- name: low_stock\n-- title: Mine\n-- description: Mine.\nSELECT 1\n"
    )
    with pytest.raises(ReportFileError, match="a report named low_stock already exists"):
        load_all(tmp_path)
    with pytest.raises(MergepointError, match="does not exist"):
        load_all(tmp_path / "missing")


def test_parameter_declarations():
    assert parse_declaration('prefix text = ""  Only these, e.g. TEA-.') == Param(
        "prefix", "text", "", "Only these, e.g. TEA-."
    )
    assert parse_declaration('who text = "a b"  Who.').default == "a b"
    limit = parse_declaration("limit int(1..100) = 10  How many.")
    assert (limit.minimum, limit.maximum, limit.spec, limit.expected) == (
        1,
        100,
        "int(1..100)",
        "int between 1 and 100",
    )
    assert parse_declaration("n int(0..) = 0  N.").expected == "int >= 0"
    assert parse_declaration("day date  The day.").required


@pytest.mark.parametrize(
    ("declaration", "raw", "value"),
    [
        ("n int(0..) = 0  N.", "42", 42),
        ("n int = 0  N.", "-3", -3),
        ("d date = today  D.", "2026-02-28", date(2026, 2, 28)),
        ("d date = today  D.", "today", date(2026, 3, 10)),
        ("d date = today  D.", "today-10", date(2026, 2, 28)),
        ("d date = today  D.", "Today + 1", date(2026, 3, 11)),
        ("b bool = false  B.", "TRUE", True),
        ("b bool = false  B.", "no", False),
        ("b bool = false  B.", "1", True),
        ("t text = x  T.", "  spaced  ", "  spaced  "),
    ],
)
def test_parameter_values_parse(declaration: str, raw: str, value: object):
    assert parse_declaration(declaration).value(raw, date(2026, 3, 10)) == value


@pytest.mark.parametrize(
    ("declaration", "raw", "message"),
    [
        ("n int(0..) = 0  N.", "-1", "parameter n: expected int >= 0, got -1"),
        ("n int = 0  N.", "1.5", "parameter n: expected int, got '1.5'"),
        ("n int = 0  N.", "", "parameter n: expected int, got ''"),
        (
            "d date = today  D.",
            "03/01/2026",
            "parameter d: expected date (YYYY-MM-DD, today or today-N)",
        ),
        ("d date = today  D.", "yesterday", "parameter d: expected date"),
        ("b bool = false  B.", "maybe", "parameter b: expected bool (true or false), got 'maybe'"),
        ("t text = x  T.", "nul\x00byte", "parameter t: expected text of at most 1000 characters"),
        ("t text = x  T.", "x" * 1001, "parameter t: expected text of at most 1000 characters"),
    ],
)
def test_a_bad_parameter_value_names_the_parameter_and_its_type(declaration, raw, message):
    with pytest.raises(ParameterError) as err:
        parse_declaration(declaration).value(raw, date(2026, 3, 10))
    assert str(err.value).startswith(message)
