"""Every unmanaged model matches the live table it maps: columns, types, nulls, keys.

The models are the back office's own idea of the shared tables; the schema package
owns them. When the two drift apart this fails with one readable line per difference.
The live side is read as the back office role, so tables resolve exactly as Django's
do, through the role's search_path.
"""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg

from apps.django_app.backoffice.contract import QUEUE_CALLS, describe
from schema.paths import ROOT

COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
  FROM pg_attribute a
 WHERE a.attrelid = %(rel)s AND a.attnum > 0 AND NOT a.attisdropped
"""
SINGLE_COLUMN_FOREIGN_KEYS = """
SELECT a.attname, rc.relname, ra.attname
  FROM pg_constraint k
  JOIN pg_class rc ON rc.oid = k.confrelid
  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
  JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1]
 WHERE k.conrelid = %(rel)s AND k.contype = 'f' AND cardinality(k.conkey) = 1
"""
PRIMARY_KEY = """
SELECT a.attname
  FROM pg_constraint k, unnest(k.conkey) WITH ORDINALITY AS key(attnum, position)
  JOIN pg_attribute a ON a.attnum = key.attnum
 WHERE k.conrelid = %(rel)s AND k.contype = 'p' AND a.attrelid = %(rel)s
 ORDER BY key.position
"""


def live(conn: psycopg.Connection, table: str) -> dict | None:
    row = conn.execute("SELECT to_regclass(%s)::oid", [table]).fetchone()
    if row[0] is None:
        return None
    rel = {"rel": row[0]}
    fks = {col: f"{t}.{c}" for col, t, c in conn.execute(SINGLE_COLUMN_FOREIGN_KEYS, rel)}
    return {
        "columns": {
            name: {"type": typ, "null": null, "references": fks.get(name)}
            for name, typ, null in conn.execute(COLUMNS, rel)
        },
        "primary_key": [name for (name,) in conn.execute(PRIMARY_KEY, rel)],
    }


def drift(description: dict, conn: psycopg.Connection) -> list[str]:
    """One line per difference between the models and the live tables."""
    lines = []
    for table, model in sorted(description["tables"].items()):
        actual = live(conn, table)
        who = f"{model['model']} ({table})"
        if actual is None:
            lines.append(f"{who}: the table does not exist")
            continue
        if model["primary_key"] != actual["primary_key"]:
            lines.append(
                f"{who}: primary key is {actual['primary_key']} in the database,"
                f" {model['primary_key']} in the model"
            )
        for column in sorted(model["columns"].keys() | actual["columns"].keys()):
            ours, theirs = model["columns"].get(column), actual["columns"].get(column)
            if theirs is None:
                lines.append(f"{who}.{column}: in the model, not in the database")
                continue
            if ours is None:
                lines.append(f"{who}.{column}: in the database, not in the model")
                continue
            for key, label in (
                ("type", "type"),
                ("null", "nullable"),
                ("references", "references"),
            ):
                if key == "references" and ours[key] is None:
                    continue  # a relation the model does not declare as a constraint
                if ours[key] != theirs[key]:
                    lines.append(
                        f"{who}.{column}: {label} is {theirs[key]!r} in the database,"
                        f" {ours[key]!r} in the model"
                    )
    return lines


def test_every_model_matches_its_live_table(session_db):
    with session_db.connect("backoffice") as conn:
        lines = drift(describe(), conn)
    assert not lines, "models and database differ:\n" + "\n".join(lines)


def test_drift_is_reported_one_readable_line_each(fresh_db):
    with fresh_db.connect(autocommit=True) as owner:
        owner.execute("ALTER TABLE shop.orders ALTER COLUMN idempotency_key TYPE varchar(255)")
        owner.execute("ALTER TABLE shop.customers ADD COLUMN phone text")
        owner.execute("ALTER TABLE shop.orders ALTER COLUMN request_hash SET NOT NULL")
        owner.execute("ALTER TABLE shop.orders DROP CONSTRAINT fk_orders_customer_id_customers")
        owner.execute("ALTER TABLE shop.stock_movements RENAME COLUMN actor TO done_by")
    with fresh_db.connect("backoffice") as conn:
        lines = drift(describe(), conn)
    assert lines == [
        "Customer (customers).phone: in the database, not in the model",
        "Order (orders).customer_id: references is None in the database,"
        " 'customers.id' in the model",
        "Order (orders).idempotency_key: type is 'character varying(255)' in the database,"
        " 'text' in the model",
        "Order (orders).request_hash: nullable is False in the database, True in the model",
        "StockMovement (stock_movements).actor: in the model, not in the database",
        "StockMovement (stock_movements).done_by: in the database, not in the model",
    ]


def test_the_description_prints_as_json_without_the_app_environment():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "apps.django_app.backoffice.contract"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(json.dumps(describe()))
    assert printed["writes"]["shop.orders"] == {"UPDATE": ["status"]}
    assert printed["reads"]["shop.order_lines"]["quantity"] == {
        "type": "integer",
        "nullable": False,
    }
    assert printed["calls"] == [
        "identity.begin_staff_session(text,bigint,text,boolean,text[],timestamp with time zone)",
        "identity.end_staff_session(text)",
        "identity.end_user_staff_sessions(bigint)",
        *QUEUE_CALLS,
    ]


def test_the_entry_point_callable_describes_through_a_subprocess():
    from apps.django_app.consumer import describe as describe_in_subprocess

    assert describe_in_subprocess() == json.loads(json.dumps(describe()))
