"""Bulk loading into the shop: one transaction, user triggers off, FKs and indexes rebuilt.

Used by ``schema.seed.seed_shop`` (and by the seed benchmark, which times the pieces).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from schema.errors import MergepointError
from schema.tables import SHOP, TABLE_NAMES

LOCK_TIMEOUT = "10s"
TABLES = TABLE_NAMES
IDENTITY_TABLES = ("customers", "products", "orders", "stock_movements")
COLUMNS = {
    "customers": ("id", "email", "name", "created_at"),
    "products": ("id", "sku", "name", "price_cents", "stock", "active", "created_at", "updated_at"),
    "orders": ("id", "customer_id", "status", "total_cents", "placed_at", "updated_at"),
    "order_lines": ("order_id", "product_id", "quantity", "unit_price_cents"),
    "stock_movements": ("id", "product_id", "delta", "reason", "order_id", "actor", "created_at"),
}

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``, called as work gets done; phases, in order: customers,
orders (with their lines and movements), products, indexes, constraints."""



def shop_table(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SHOP), sql.Identifier(name))


def copy_sql(table: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        shop_table(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table]))
    )


@dataclass
class BulkLoad:
    """What was switched off for the load, to be put back exactly as it was."""

    triggers: list[tuple[str, str, str]]  # table, trigger, tgenabled
    foreign_keys: list[tuple[str, str, str, str | None]]  # table, name, definition, comment
    indexes: list[tuple[str, str, str | None]]  # name, definition, comment


def lock_shop(cur: psycopg.Cursor[Any], timeout: str = LOCK_TIMEOUT) -> None:
    """Lock the five tables (waiting at most ``timeout``) so nobody sees a half-done seed."""
    cur.execute("SELECT set_config('lock_timeout', %s, true)", [timeout])
    try:
        cur.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join(shop_table(t) for t in TABLES)
            )
        )
    except psycopg.errors.LockNotAvailable as exc:
        raise MergepointError(
            f"the shop tables are in use by another session (waited {timeout}): "
            "retry when it is done"
        ) from exc
    cur.execute("SELECT set_config('lock_timeout', '0', true)")


def begin_bulk_load(cur: psycopg.Cursor[Any]) -> BulkLoad:
    """Disable the user triggers; drop the FKs and secondary indexes of the five tables.

    Only what can be recreated exactly from the catalog is dropped: valid indexes in the
    default tablespace that back no constraint, are no replica identity and not clustered.
    """
    tables = [f"{SHOP}.{t}" for t in TABLES]
    triggers = cur.execute(
        """SELECT c.relname, t.tgname, t.tgenabled
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgrelid = ANY(%s::regclass[]) AND NOT t.tgisinternal AND t.tgenabled <> 'D'
            ORDER BY 1, 2""",
        [tables],
    ).fetchall()
    foreign_keys = cur.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid),
                  obj_description(c.oid, 'pg_constraint')
             FROM pg_constraint c
            WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype = 'f'
            ORDER BY c.conrelid, c.conname""",
        [tables],
    ).fetchall()
    indexes = cur.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
                  obj_description(i.indexrelid, 'pg_class')
             FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
            WHERE i.indrelid = ANY(%s::regclass[])
              AND i.indisvalid AND NOT i.indisreplident AND NOT i.indisclustered
              AND x.reltablespace = 0
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1""",
        [tables],
    ).fetchall()
    for table, trigger, _state in triggers:
        cur.execute(
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                shop_table(table), sql.Identifier(trigger)
            )
        )
    for table, name, _definition, _comment in foreign_keys:
        cur.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table), sql.Identifier(name)
            )
        )
    for name, _definition, _comment in indexes:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    return BulkLoad(triggers, foreign_keys, indexes)


_ENABLE = {"O": "ENABLE TRIGGER", "A": "ENABLE ALWAYS TRIGGER", "R": "ENABLE REPLICA TRIGGER"}


def end_bulk_load(cur: psycopg.Cursor[Any], load: BulkLoad, progress: Progress) -> None:
    """Rebuild the indexes, re-add (and so re-check) the FKs, re-enable the triggers."""
    # Names and definitions come from the catalog (pg_get_*def), never from user input.
    for done, (name, definition, comment) in enumerate(load.indexes, 1):
        cur.execute(sql.SQL(definition))
        if comment is not None:
            cur.execute(
                sql.SQL("COMMENT ON INDEX {} IS {}").format(sql.SQL(name), sql.Literal(comment))
            )
        progress("indexes", done, len(load.indexes))
    for done, (table, name, definition, comment) in enumerate(load.foreign_keys, 1):
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
        )
        if comment is not None:
            cur.execute(
                sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
                    sql.Identifier(name), sql.SQL(table), sql.Literal(comment)
                )
            )
        progress("constraints", done, len(load.foreign_keys))
    for table, trigger, state in load.triggers:
        cur.execute(
            sql.SQL("ALTER TABLE {} {} {}").format(
                shop_table(table), sql.SQL(_ENABLE[state]), sql.Identifier(trigger)
            )
        )


def shop_is_empty(cur: psycopg.Cursor[Any]) -> bool:
    query = sql.SQL(" AND ").join(
        sql.SQL("NOT EXISTS (SELECT 1 FROM {})").format(shop_table(t)) for t in TABLES
    )
    row = cur.execute(sql.SQL("SELECT ") + query).fetchone()
    return bool(row and row[0])


def next_ids(cur: psycopg.Cursor[Any]) -> dict[str, int]:
    """The first free id of each identity table: past its rows and its sequence."""
    ids = {}
    for table in IDENTITY_TABLES:
        row = cur.execute(
            sql.SQL(
                "SELECT greatest((SELECT max(id) FROM {}),"
                " pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass), 0)"
            ).format(shop_table(table)),
            [f"{SHOP}.{table}"],
        ).fetchone()
        ids[table] = int(row[0]) + 1 if row else 1
    return ids


def advance_sequences(cur: psycopg.Cursor[Any], last_ids: dict[str, int]) -> None:
    """COPY with explicit ids leaves identity sequences behind: move them past the rows."""
    for table, last in last_ids.items():
        cur.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [f"{SHOP}.{table}", last]
        )


def copy_chunks(
    cur: psycopg.Cursor[Any],
    table: str,
    chunks: Iterator[tuple[str, int]],
    progress: Progress,
    phase: str,
    total: int,
) -> int:
    done = 0
    with cur.copy(copy_sql(table)) as copy:
        for text, rows in chunks:
            copy.write(text)
            done += rows
            progress(phase, done, total)
    return done


