"""The storefront's contract with the shared schema, as plain data, and its live check.

``describe()`` is what the storefront reads, writes and relies on, derived from its own
Table declarations (apps/flask_app/tables.py); the neutral package can discover it through
the ``mergepoint.consumers`` entry point without importing us. ``drift(conn)`` compares the
declarations with a live database and says, one readable line each, what differs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from apps.flask_app.tables import CALLS, CONSTRAINTS, RULES, SHOP_TABLES, SUBSCRIPTIONS, WRITES

_DIALECT = postgresql.dialect()


def sql_type(column: sa.Column[Any]) -> str:
    """The type as information_schema.columns.data_type spells it."""
    return column.type.compile(dialect=_DIALECT).lower()


def describe() -> dict[str, Any]:
    return {
        "name": "storefront",
        "role": "storefront",
        "reads": {
            f"{t.schema}.{t.name}": {
                c.name: {"type": sql_type(c), "nullable": bool(c.nullable)} for c in t.columns
            }
            for t in SHOP_TABLES
        },
        "writes": {
            table: {
                privilege: list(columns)
                for privilege, by_table in WRITES.items()
                for t, columns in by_table.items()
                if t == table
            }
            for table in sorted({t for by_table in WRITES.values() for t in by_table})
        },
        "constraints": sorted(name for names in CONSTRAINTS.values() for name in names),
        "rules": list(RULES),
        "subscriptions": [dict(s) for s in SUBSCRIPTIONS],
        "calls": list(CALLS),
    }


_LIVE_COLUMNS = sa.text(
    "SELECT table_name, column_name, data_type, is_nullable = 'YES'"
    " FROM information_schema.columns WHERE table_schema = :schema"
)


def drift(conn: sa.Connection, tables: tuple[sa.Table, ...] = SHOP_TABLES) -> list[str]:
    """How the live database differs from ``tables``, one line per difference ([] if none).

    Only what the app declares is compared: names, types and nullability of the columns
    it uses (a column it does not use may come and go freely).
    """
    live: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {}
    for schema in sorted({t.schema for t in tables if t.schema}):
        for table, column, type_, nullable in conn.execute(_LIVE_COLUMNS, {"schema": schema}):
            live.setdefault((schema, table), {})[column] = (type_, nullable)
    problems: list[str] = []
    for table in tables:
        name = f"{table.schema}.{table.name}"
        columns = live.get((table.schema or "", table.name))
        if columns is None:
            problems.append(f"{name}: table missing (or not visible to this role)")
            continue
        for column in table.columns:
            where = f"{name}.{column.name}"
            if column.name not in columns:
                problems.append(f"{where}: column missing")
                continue
            type_, nullable = columns[column.name]
            if sql_type(column) != type_:
                problems.append(
                    f"{where}: type is {type_}, the storefront declares {sql_type(column)}"
                )
            if bool(column.nullable) != nullable:
                problems.append(
                    f"{where}: {'nullable' if nullable else 'NOT NULL'} in the database, "
                    f"the storefront declares {'nullable' if column.nullable else 'NOT NULL'}"
                )
    return problems
