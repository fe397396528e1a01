"""One interface, three outputs: a rich table for people, CSV and JSON for programs.

A formatter writes a Result to a text stream it is given; it never opens files or looks
at sys.stdout itself.
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


class TableFormatter:
    """A rich table titled with the report's title, with a row count underneath."""

    def write(self, result: Result, stream: TextIO) -> None:
        interactive = stream.isatty()
        table = Table(title=result.report.title, box=box.SIMPLE_HEAVY, title_justify="left")
        for index, column in enumerate(result.columns):
            numeric = any(
                isinstance(row[index], int | float | Decimal) and not isinstance(row[index], bool)
                for row in result.rows
            )
            table.add_column(
                column, justify="right" if numeric else "left", no_wrap=not interactive
            )
        for row in result.rows:
            table.add_row(*(Text(text(value)) for value in row))
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
    """RFC 4180 CSV with a header row; NULL is an empty field."""

    def write(self, result: Result, stream: TextIO) -> None:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([text(value) for value in row] for row in result.rows)


class JsonFormatter:
    """A JSON array of objects, one per row, keyed by column name."""

    def write(self, result: Result, stream: TextIO) -> None:
        rows = [
            {column: plain(value) for column, value in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        json.dump(rows, stream, indent=2, ensure_ascii=False)
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
