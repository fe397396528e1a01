"""Report output is safe where it is read: stored text is user input (issue 13, item 1).

A name registered through the storefront's open API must not come out of a CSV report as
a live spreadsheet formula, nor out of a table as an escape sequence that drives the
operator's terminal; JSON keeps every value exactly.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from apps.flask_app import create_app
from apps.flask_app.db import EXTENSION
from schema.reports import Result, find, formatter
from schema.terminal import CONTROL_CHARACTERS

HYPERLINK = '=HYPERLINK("http://evil.example/","x")'
# Retitles an xterm window, then a one-byte CSI (C1) that clears the screen on some terminals.
ESCAPES = "\x1b]0;pwned\x07Tea\x9b2J\x7f\tcup\r\n"


def controls(text: str) -> set[str]:
    """The control characters in ``text``, line ends aside."""
    return {c for c in text.replace("\n", "") if ord(c) in CONTROL_CHARACTERS}


def written(name: str, result: Result) -> str:
    stream = io.StringIO()
    formatter(name).write(result, stream)
    return stream.getvalue()


@pytest.fixture
def storefront(fresh_db):
    app = create_app({"DATABASE_URL": fresh_db.url("storefront"), "TESTING": True})
    try:
        yield app.test_client()
    finally:
        app.extensions[EXTENSION].dispose()


def test_a_formula_registered_through_the_api_comes_out_of_csv_as_text(cli, shop, storefront):
    pid = shop.product("TEA-1", 250, stock=10)
    registered = storefront.post(
        "/api/customers", json={"email": "mallory@example.com", "name": HYPERLINK}
    )
    assert registered.status_code == 201, registered.get_json()
    token = registered.get_json()["token"]
    placed = storefront.post(
        "/api/orders",
        json={"lines": [{"sku": "TEA-1", "quantity": 1}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert placed.status_code == 201, placed.get_json()
    assert shop.stock(pid) == 9

    as_csv = cli("run", "customer_lifetime_value", "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    [header, row] = list(csv.reader(io.StringIO(as_csv.output)))
    named = dict(zip(header, row, strict=True))
    assert named["name"] == "'" + HYPERLINK  # a spreadsheet shows it; it runs nothing
    assert named["lifetime_value_cents"] == "250"

    as_json = cli("run", "customer_lifetime_value", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)[0]["name"] == HYPERLINK  # exact for programs


def test_escape_sequences_in_a_product_name_never_reach_the_terminal(cli, shop):
    shop.product("TEA-1", 250, stock=1, name=ESCAPES)
    table = cli("run", "low_stock")
    assert table.exit_code == 0, table.output
    assert controls(table.output) == set()
    row = next(line for line in table.output.splitlines() if "TEA-1" in line)
    assert "]0;pwnedTea2Jcup" in row  # the text is shown, defused, on the row's one line

    as_json = cli("run", "low_stock", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)[0]["name"] == ESCAPES
    assert controls(as_json.output) == set()  # all escaped (\u001b, \u009b ...), still exact


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_neutralizes_every_formula_start_in_text(start):
    result = Result(find("low_stock"), {}, ("name",), [(f"{start}1+1",)])
    [_, [cell]] = list(csv.reader(io.StringIO(written("csv", result), newline="")))
    assert cell == f"'{start}1+1"


def test_csv_keeps_numbers_as_numbers_and_text_that_looks_like_one_as_text():
    result = Result(
        find("low_stock"),
        {},
        ("delta", "share", "name", "plain"),
        [(-5, Decimal("-1.5"), "-5", "Tea = good")],
    )
    assert written("csv", result).splitlines()[1] == "-5,-1.5,'-5,Tea = good"


def test_table_strips_control_characters_from_headers_too():
    result = Result(find("low_stock"), {}, ("na\x1b[31mme",), [("x",)])
    output = written("table", result)
    assert controls(output) == set()
    assert "na[31mme" in output


def test_a_carriage_return_inside_text_cannot_start_a_row_of_its_own():
    result = Result(find("low_stock"), {}, ("name", "n"), [("x\r=1+1", 1), ("y\n@z", 2)])
    output = written("csv", result)
    assert output.endswith('"y\n@z",2\n')
    assert list(csv.reader(io.StringIO(output, newline=""))) == [
        ["name", "n"],
        ["x\r=1+1", "1"],
        ["y\n@z", "2"],
    ]
