"""Table, CSV and JSON through one interface, written to the stream they are given."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from schema.errors import MergepointError
from schema.reports import FORMATTERS, Result, find, formatter


@pytest.fixture
def result() -> Result:
    return Result(
        report=find("low_stock"),
        params={},
        columns=("id", "name", "share", "total", "day", "at", "ok", "note"),
        rows=[
            (
                1,
                '[bold]Tea[/bold], "green"',
                Decimal("12.5"),
                Decimal("1300"),
                date(2026, 3, 1),
                datetime(2026, 3, 1, 10, tzinfo=UTC),
                True,
                None,
            ),
            (
                22,
                "Café",
                Decimal("87.5"),
                Decimal("0"),
                date(2026, 3, 2),
                datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                False,
                "x",
            ),
        ],
    )


def written(name: str, result: Result) -> str:
    stream = io.StringIO()
    formatter(name).write(result, stream)
    return stream.getvalue()


def test_json_is_an_array_of_objects_with_numbers_kept_as_numbers(result):
    assert json.loads(written("json", result)) == [
        {
            "id": 1,
            "name": '[bold]Tea[/bold], "green"',
            "share": 12.5,
            "total": 1300,
            "day": "2026-03-01",
            "at": "2026-03-01T10:00:00+00:00",
            "ok": True,
            "note": None,
        },
        {
            "id": 22,
            "name": "Café",
            "share": 87.5,
            "total": 0,
            "day": "2026-03-02",
            "at": "2026-03-02T09:30:00+00:00",
            "ok": False,
            "note": "x",
        },
    ]


def test_csv_has_a_header_quotes_what_needs_it_and_leaves_null_empty(result):
    text = written("csv", result)
    assert text.splitlines()[:2] == [
        "id,name,share,total,day,at,ok,note",
        '1,"[bold]Tea[/bold], ""green""",12.5,1300,2026-03-01,2026-03-01T10:00:00+00:00,true,',
    ]
    assert list(csv.reader(io.StringIO(text)))[2] == [
        "22",
        "Café",
        "87.5",
        "0",
        "2026-03-02",
        "2026-03-02T09:30:00+00:00",
        "false",
        "x",
    ]


def test_table_shows_title_columns_rows_and_count_without_markup_or_wrapping(result):
    lines = written("table", result).splitlines()
    assert lines[0] == "Low stock"
    header = next(line for line in lines if "name" in line)
    assert header.split() == ["id", "name", "share", "total", "day", "at", "ok", "note"]
    tea = next(line for line in lines if "Tea" in line)
    assert '[bold]Tea[/bold], "green"' in tea  # markup-looking text is shown as it is
    assert "2026-03-01T10:00:00+00:00" in tea and "true" in tea
    assert lines[-1] == "2 rows"
    assert all(line == line.rstrip() for line in lines)
    assert "\x1b[" not in "".join(lines)  # no colour codes off a terminal


def test_numbers_are_right_aligned_in_the_table(result):
    lines = written("table", result).splitlines()
    first = next(line for line in lines if "Tea" in line)
    second = next(line for line in lines if "Café" in line)
    assert first.index("1 ") == second.index("22 ") + 1


def test_an_empty_result_still_has_its_header(result):
    empty = Result(report=result.report, params={}, columns=("a", "b"), rows=[])
    assert written("csv", empty) == "a,b\n"
    assert written("json", empty) == "[]\n"
    assert written("table", empty).splitlines()[-1] == "0 rows"


def test_every_format_goes_through_one_interface():
    assert sorted(FORMATTERS) == ["csv", "json", "table"]
    assert all(callable(getattr(f, "write", None)) for f in FORMATTERS.values())
    with pytest.raises(MergepointError, match="unknown format 'xml'; use one of table, csv, json"):
        formatter("xml")
