"""One interface, three outputs: a rich table for people, CSV and JSON for programs.

A formatter writes a Result to a text stream it is given; it never opens files or looks
at sys.stdout itself.

What reports show is user input (customers name themselves through the open API), so each
output is safe where it is read: the table strips control characters (an escape sequence
in a product's name must not drive the operator's terminal), CSV neutralizes text cells
a spreadsheet would run as a formula, and JSON stays exact (control characters escaped,
as JSON allows, so the parsed value is the stored one).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from schema.errors import MergepointError
from schema.reports.runner import Result
from schema.terminal import CONTROL_CHARACTERS, printable


class Formatter(Protocol):
    def write(self, result: Result, stream: TextIO) -> None: ...


def plain(value: Any) -> Any:
    """A value as JSON can carry it: numbers stay numbers, dates become ISO 8601 text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        # numeric sums of integers stay integers; a rounded share keeps its decimal point
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def text(value: Any) -> str:
    """A value as one cell of text (CSV, table); NULL is the empty string."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as a CSV field, a text cell that starts like a formula prefixed with ``'``.

    Only text is neutralized: a number from a numeric column (``-5``) is data a
    spreadsheet must read as a number, and no formula. Text that merely looks like one
    (a name ``-5``) is text, and gets its ``'`` like any other.
    """
    cell = text(value)
    if not is_number(value) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


class TableFormatter:
    """A rich table titled with the report's title, with a row count underneath."""

    def write(self, result: Result, stream: TextIO) -> None:
        interactive = stream.isatty()
        table = Table(title=result.report.title, box=box.SIMPLE_HEAVY, title_justify="left")
        for index, column in enumerate(result.columns):
            numeric = any(is_number(row[index]) for row in result.rows)
            table.add_column(
                printable(column, tabs=False),
                justify="right" if numeric else "left",
                no_wrap=not interactive,
            )
        for row in result.rows:
            table.add_row(*(Text(printable(text(value), tabs=False)) for value in row))
        count = len(result.rows)
        table.caption = f"{count} row{'' if count == 1 else 's'}"
        table.caption_justify = "left"
        print_table(table, stream)


def print_table(table: Table, stream: TextIO) -> None:
    """Print a rich table: fitted and coloured on a terminal; elsewhere (a file, a pipe)
    plain text where nothing wraps, each row on one line, no trailing blanks."""
    if stream.isatty():
        Console(file=stream, highlight=False, emoji=False, markup=False).print(table)
        return
    for column in table.columns:
        column.no_wrap = True
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=100_000, color_system=None, highlight=False, emoji=False, markup=False
    )
    console.print(table)
    lines = "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
    stream.write(lines.strip("\n") + "\n")


class CsvFormatter:
    """RFC 4180 CSV with a header row; NULL is an empty field; formulas neutralized."""

    def write(self, result: Result, stream: TextIO) -> None:
        # With lineterminator "\n" the csv module leaves a lone CR in a field unquoted, and
        # a reader starts a new record there: a name "x\r=1+1" would become a row of its own
        # beginning with a live formula. "\r\n" makes it quote every field holding either;
        # each record still ends in "\n" (the one unquoted line end is the record's own).
        record = io.StringIO()
        writer = csv.writer(record, lineterminator="\r\n")
        rows = [result.columns, *result.rows]
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])
            stream.write(record.getvalue().removesuffix("\r\n") + "\n")
            record.seek(0)
            record.truncate()


# json escapes the C0 controls itself; DEL and the C1 controls it writes as they are.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in CONTROL_CHARACTERS if c >= 0x7F}


class JsonFormatter:
    """A JSON array of objects, one per row, keyed by column name: exactly the values
    (every control character written as a ``\\u`` escape, which parses back to itself)."""

    def write(self, result: Result, stream: TextIO) -> None:
        rows = [
            {column: plain(value) for column, value in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        # Outside strings JSON is ASCII, so escaping these characters everywhere is exact.
        stream.write(json.dumps(rows, indent=2, ensure_ascii=False).translate(_JSON_ESCAPES))
        stream.write("\n")


FORMATTERS: dict[str, Formatter] = {
    "table": TableFormatter(),
    "csv": CsvFormatter(),
    "json": JsonFormatter(),
}


def formatter(name: str) -> Formatter:
    try:
        return FORMATTERS[name]
    except KeyError:
        raise MergepointError(
            f"unknown format {name!r}; use one of {', '.join(FORMATTERS)}"
        ) from None
