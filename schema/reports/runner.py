"""Run a report on any DB-API 2 connection: bind its parameters, fetch its rows.

The connection is passed in; the caller owns it and its transaction (the CLI opens a
read-only one with a statement timeout). Parameter values are always sent to the driver
separately from the SQL: aiosql rewrites the report's ``:name`` placeholders into the
driver's paramstyle (pyformat for psycopg, named for sqlite3, and here also qmark, format
and numeric for drivers that only take positional parameters).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import aiosql
from aiosql.adapters.generic import GenericAdapter
from aiosql.adapters.pyformat import PyFormatAdapter
from aiosql.adapters.sqlite3 import SQLite3Adapter
from aiosql.utils import VAR_REF

from schema.errors import MergepointError
from schema.reports.loader import Report
from schema.reports.params import ParameterError

PARAMSTYLES = ("pyformat", "named", "qmark", "format", "numeric")


@dataclass(frozen=True)
class Result:
    """What a report returned, with the parameter values it ran with."""

    report: Report
    params: dict[str, object]
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def bind(
    report: Report, given: Mapping[str, object], *, today: date | None = None
) -> dict[str, object]:
    """The values to bind: ``given`` (text as typed, or Python values) checked, defaults filled.

    Raises ParameterError (one line, naming the parameter and its expected type) for an
    unknown, missing or ill-typed parameter.
    """
    today = today or datetime.now(UTC).date()
    unknown = sorted(set(given) - {p.name for p in report.params})
    if unknown:
        raise ParameterError(
            f"report {report.name} has no parameter {unknown[0]!r}; {describe_params(report)}"
        )
    values: dict[str, object] = {}
    for param in report.params:
        if param.name in given:
            values[param.name] = param.value(given[param.name], today)
        elif param.default is not None:
            values[param.name] = param.value(param.default, today)
        else:
            raise ParameterError(
                f"missing parameter {param.name} ({param.expected}) for report {report.name};"
                f" pass it as --param {param.name}=VALUE"
            )
    start, end = values.get("date_from"), values.get("date_to")
    if isinstance(start, date) and isinstance(end, date) and start > end:
        raise ParameterError(f"parameter date_from ({start}) is after date_to ({end})")
    return values


def describe_params(report: Report) -> str:
    if not report.params:
        return "it takes no parameters"
    listed = ", ".join(f"{p.name} ({p.expected})" for p in report.params)
    return f"its parameters: {listed}"


def run(
    report: Report,
    conn: Any,
    given: Mapping[str, object] | None = None,
    *,
    paramstyle: str | None = None,
    today: date | None = None,
) -> Result:
    """Run ``report`` on the DB-API 2 connection ``conn`` and fetch every row.

    ``paramstyle`` overrides the one read from the connection's driver module.
    """
    values = bind(report, given or {}, today=today)
    adapter = adapter_for(conn, paramstyle)
    queries = aiosql.from_str(report.source, adapter, mandatory_parameters=False, attribute=None)
    with getattr(queries, f"{report.name}_cursor")(conn, **values) as cursor:
        columns = tuple(column[0] for column in cursor.description or ())
        rows = [tuple(row) for row in cursor.fetchall()]
    return Result(report=report, params=values, columns=columns, rows=rows)


def driver_paramstyle(conn: Any) -> tuple[str, str | None]:
    """(driver module name, its DB-API paramstyle) for a connection object."""
    module_name = type(conn).__module__.split(".")[0]
    module = sys.modules.get(module_name)
    return module_name, getattr(module, "paramstyle", None)


def adapter_for(conn: Any, paramstyle: str | None = None) -> Any:
    """An aiosql adapter factory that writes placeholders in the connection's paramstyle."""
    driver, declared = driver_paramstyle(conn)
    style = paramstyle or declared
    if paramstyle is None and driver == "sqlite3":
        return SQLite3Adapter  # sqlite3 declares qmark but binds :name natively
    if style == "pyformat":
        return PercentSafePyFormatAdapter
    if style == "named":
        return GenericAdapter
    if style in ("qmark", "format", "numeric"):
        return lambda: PositionalAdapter(style)
    raise MergepointError(
        f"cannot bind parameters for a {driver} connection (paramstyle {style!r});"
        f" supported paramstyles: {', '.join(PARAMSTYLES)}"
    )


class PercentSafePyFormatAdapter(PyFormatAdapter):
    """aiosql's pyformat adapter, also doubling literal ``%`` (``'100%'``, the modulo operator),
    which pyformat drivers would otherwise read as the start of a placeholder."""

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        return str(super().process_sql(query_name, op_type, sql.replace("%", "%%")))


class PositionalAdapter(GenericAdapter):
    """Rewrites ``:name`` into positional placeholders and passes values in that order."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self._style = style
        self._order: dict[str, list[str]] = {}

    def process_sql(self, query_name: str, op_type: Any, sql: str) -> str:
        order: list[str] = []

        def placeholder(match: Any) -> str:
            groups = match.groupdict()
            if groups["dquote"] is not None:
                return str(groups["dquote"])
            if groups["squote"] is not None:
                return str(groups["squote"])
            order.append(groups["var_name"])
            marker = {"qmark": "?", "format": "%s", "numeric": f":{len(order)}"}[self._style]
            return f"{groups['lead']}{marker}"

        if self._style == "format":
            sql = sql.replace("%", "%%")
        rewritten = VAR_REF.sub(placeholder, sql)
        self._order[query_name] = order
        return rewritten

    def _positional(self, query_name: str, parameters: Any) -> Sequence[Any]:
        return [parameters[name] for name in self._order[query_name]]

    def select_cursor(self, conn: Any, query_name: str, sql: str, parameters: Any) -> Any:
        return super().select_cursor(
            conn, query_name, sql, self._positional(query_name, parameters)
        )
