"""Consumer contracts: what each application reads, writes and relies on, checked live.

Each app publishes a description through the ``mergepoint.consumers`` entry point group
(a callable returning plain data, derived from its own models), so this package never
imports an app. A description looks like::

    {
      "name": "storefront", "role": "storefront",
      "reads": {"shop.products": {"id": {"type": "bigint", "nullable": false}, ...}},
      "writes": {"shop.orders": {"INSERT": ["customer_id"], "UPDATE": ["status"]}},
      "constraints": ["uq_customers_email_lower", ...],
      "rules": ["insufficient_stock", ...],
      "calls": ["identity.staff_session(text)"]
    }

``check`` compares every description with a live database: missing table or column,
wrong type, wrong nullability, missing constraint or rule, missing function, missing
privilege of the consumer's role for what it reads, writes and calls.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import psycopg

from schema import events, migrations
from schema.db import create_database, drop_database, owner_connect
from schema.errors import one_line
from schema.roles import reconcile, role_name
from schema.urls import with_dbname

GROUP = "mergepoint.consumers"

Description = Mapping[str, Any]


@dataclass(frozen=True)
class Break:
    consumer: str
    table: str
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.consumer}: {where}: {self.problem}"


def discover() -> dict[str, Callable[[], Description]]:
    """The installed consumers' describe callables, by entry point name."""
    return {ep.name: ep.load for ep in entry_points(group=GROUP)}


def describe_all(
    loaders: Mapping[str, Callable[[], Any]] | None = None,
) -> tuple[list[Description], list[Break]]:
    """Every consumer's description; a consumer that cannot describe itself is a break."""
    descriptions: list[Description] = []
    failures: list[Break] = []
    for name, load in sorted((loaders or discover()).items()):
        try:
            describe = load()
            descriptions.append(describe() if callable(describe) else describe)
        except Exception as exc:  # an app's own failure, reported by name, never a traceback
            failures.append(Break(name, "-", None, f"could not describe itself: {one_line(exc)}"))
    return descriptions, failures


def _normalize_type(name: str) -> str:
    aliases = {
        "int8": "bigint",
        "int4": "integer",
        "int": "integer",
        "bool": "boolean",
        "timestamptz": "timestamp with time zone",
        "varchar": "character varying",
    }
    name = " ".join(name.lower().split())
    return aliases.get(name, name)


def _live_columns(conn: psycopg.Connection) -> dict[tuple[str, str], dict[str, tuple[str, bool]]]:
    rows = conn.execute(
        """
        SELECT n.nspname, c.relname, a.attname,
               format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        """
    ).fetchall()
    out: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {}
    for schema, table, column, type_, nullable in rows:
        out.setdefault((schema, table), {})[column] = (type_, nullable)
    return out


def _live_constraint_names(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = 'shop'"
        " UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'shop'"
    ).fetchall()
    return {r[0] for r in rows}


def _live_rules(conn: psycopg.Connection, rules: Iterable[str]) -> set[str]:
    """Rule names some function in ``shop`` or ``events`` raises (``MESSAGE = 'name'``)."""
    sources = "\n".join(
        r[0]
        for r in conn.execute(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname IN ('shop', 'events')"
        ).fetchall()
    )
    return {rule for rule in rules if f"MESSAGE = '{rule}'" in sources}


def _split(qualified: str) -> tuple[str, str]:
    schema, _, table = qualified.partition(".")
    return (schema, table) if table else ("shop", schema)


def check(url: str, prefix: str, descriptions: Iterable[Description]) -> list[Break]:
    """Every way the database at ``url`` fails the consumers' descriptions."""
    descriptions = list(descriptions)
    breaks: list[Break] = []
    with owner_connect(url) as conn:
        live = _live_columns(conn)
        constraints = _live_constraint_names(conn)
        all_rules = {r for d in descriptions for r in d.get("rules", ())}
        rules = _live_rules(conn, all_rules)
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
        for d in descriptions:
            name = d["name"]
            role = role_name(prefix, d["role"])
            if role not in roles:
                breaks.append(Break(name, "-", None, f"role {role} does not exist"))
                role = ""
            for qualified, columns in d.get("reads", {}).items():
                key = _split(qualified)
                table = ".".join(key)
                if key not in live:
                    breaks.append(Break(name, table, None, "missing table"))
                    continue
                for column, expected in columns.items():
                    if column not in live[key]:
                        breaks.append(Break(name, table, column, "missing column"))
                        continue
                    type_, nullable = live[key][column]
                    want = _normalize_type(expected["type"])
                    if _normalize_type(type_) != want:
                        breaks.append(
                            Break(name, table, column, f"type is {type_}, {name} expects {want}")
                        )
                    if "nullable" in expected and bool(expected["nullable"]) != nullable:
                        breaks.append(
                            Break(
                                name,
                                table,
                                column,
                                f"nullable is {nullable}, {name} expects {expected['nullable']}",
                            )
                        )
                    if role and not _has_column_privilege(conn, role, table, column, "SELECT"):
                        breaks.append(Break(name, table, column, f"role {role} lacks SELECT"))
            for qualified, privileges in d.get("writes", {}).items():
                key = _split(qualified)
                table = ".".join(key)
                if key not in live:
                    breaks.append(Break(name, table, None, "missing table (written)"))
                    continue
                for privilege, columns in privileges.items():
                    for column in columns or [None]:
                        if column is not None and column not in live[key]:
                            breaks.append(Break(name, table, column, "missing column (written)"))
                        elif role and not _has_privilege(conn, role, table, column, privilege):
                            breaks.append(
                                Break(name, table, column, f"role {role} lacks {privilege}")
                            )
            for function in d.get("calls", ()):
                if not _function_exists(conn, function):
                    breaks.append(Break(name, function, None, "missing function"))
                elif role and not _may_execute(conn, role, function):
                    breaks.append(Break(name, function, None, f"role {role} lacks EXECUTE"))
            for constraint in d.get("constraints", ()):
                if constraint not in constraints:
                    breaks.append(Break(name, "shop", None, f"missing constraint {constraint}"))
            for rule in d.get("rules", ()):
                if rule not in rules:
                    breaks.append(Break(name, "shop", None, f"no trigger raises rule {rule}"))
            for problem in events.check(conn, prefix, d):
                breaks.append(Break(name, "events", None, problem))
    return breaks


def _function_exists(conn: psycopg.Connection, function: str) -> bool:
    """``function`` ("schema.name(argtypes)") exists; False too for a malformed name."""
    try:
        with conn.transaction():
            row = conn.execute("SELECT to_regprocedure(%s) IS NOT NULL", [function]).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def _may_execute(conn: psycopg.Connection, role: str, function: str) -> bool:
    row = conn.execute(
        "SELECT has_function_privilege(%s, %s, 'EXECUTE')", [role, function]
    ).fetchone()
    return bool(row and row[0])


def _has_column_privilege(
    conn: psycopg.Connection, role: str, table: str, column: str, privilege: str
) -> bool:
    row = conn.execute(
        "SELECT has_column_privilege(%s, %s, %s, %s)", [role, table, column, privilege]
    ).fetchone()
    return bool(row and row[0])


def _has_privilege(
    conn: psycopg.Connection, role: str, table: str, column: str | None, privilege: str
) -> bool:
    if column is not None:
        return _has_column_privilege(conn, role, table, column, privilege)
    row = conn.execute(
        "SELECT has_table_privilege(%s, %s, %s)", [role, table, privilege]
    ).fetchone()
    return bool(row and row[0])


def vet_migration(
    url: str, target: str, prefix: str, descriptions: Iterable[Description]
) -> list[Break]:
    """Migrate a scratch database to ``target`` and check every consumer against it.

    Nothing touches the real database: the scratch database is created next to it (the
    owner has CREATEDB), migrated and given the roles' grants, checked, and dropped.
    """
    scratch = f"mergepoint_vet_{secrets.token_hex(4)}"
    create_database(url, scratch)  # nobody but the owner may join it, ever
    try:
        scratch_url = with_dbname(url, scratch)
        migrations.upgrade(scratch_url, target)
        reconcile(scratch_url, prefix, connect=False)
        events.reconcile(scratch_url, prefix, descriptions)
        return check(scratch_url, prefix, descriptions)
    finally:
        drop_database(url, scratch)
