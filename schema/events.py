"""The outbox's subscriptions and their operation: reconcile, status, prune, replay.

The database writes the events (alembic 0005) and serves them through ``events.poll`` /
``events.ack``; this module is the owner's side: it creates each subscription an app
declares in its consumer description (``"subscriptions": [{"name", "topics"}]``), starting
its cursor where it is created, and tells an operator how far behind each consumer is and
what holds delivery back. Every query runs on an owner connection (search_path pinned).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from schema.db import owner_connect
from schema.errors import MergepointError

POLL = "events.poll(text,integer)"
ACK = "events.ack(text,xid8,bigint)"
_DURATION = re.compile(r"^\s*(\d{1,9})\s*(s|sec|m|min|h|d)\s*$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: str, option: str) -> timedelta:
    """``30d``, ``12h``, ``5m``, ``90s`` -> a timedelta; anything else one readable line."""
    match = _DURATION.match(value)
    if not match:
        raise MergepointError(f"invalid {option} {value!r}: use a duration such as 30d, 12h, 5m")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True)
class Subscription:
    consumer: str
    role: str  # the app role's name, unprefixed
    topics: tuple[str, ...]


def declared(descriptions: Iterable[Mapping[str, Any]]) -> list[Subscription]:
    """The subscriptions the apps declare in their consumer descriptions."""
    return [
        Subscription(str(s["name"]), str(d["role"]), tuple(sorted(s["topics"])))
        for d in descriptions
        for s in d.get("subscriptions", ())
    ]


def _exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('events.subscriptions') IS NOT NULL").fetchone() == (
        True,
    )


def reconcile(url: str, prefix: str, descriptions: Iterable[Mapping[str, Any]]) -> list[str]:
    """Create the declared subscriptions (cursor: now) and keep their role and topics.

    A subscription no app declares any more is kept, not dropped: its cursor is someone's
    position in the stream (`mergepoint events status` lists it; prune waits for it).
    """
    changes: list[str] = []
    with owner_connect(url) as conn, conn.transaction():
        if not _exists(conn):
            return changes
        actual = {
            row[0]: (row[1], tuple(sorted(row[2])))
            for row in conn.execute(
                "SELECT consumer, role_name, topics FROM events.subscriptions"
            ).fetchall()
        }
        for sub in declared(descriptions):
            role = prefix + sub.role
            if sub.consumer not in actual:
                conn.execute(
                    "INSERT INTO events.subscriptions (consumer, role_name, topics)"
                    " VALUES (%s, %s, %s)",
                    [sub.consumer, role, list(sub.topics)],
                )
                changes.append(f"subscription {sub.consumer}: created for {role}")
            elif actual[sub.consumer] != (role, sub.topics):
                conn.execute(
                    "UPDATE events.subscriptions SET role_name = %s, topics = %s"
                    " WHERE consumer = %s",
                    [role, list(sub.topics), sub.consumer],
                )
                changes.append(f"subscription {sub.consumer}: role {role}, topics updated")
    return changes


def check(conn: psycopg.Connection, prefix: str, description: Mapping[str, Any]) -> list[str]:
    """Why the app's subscriptions would not work here, one phrase each ([] if they do)."""
    subscriptions = declared([description])
    if not subscriptions:
        return []
    if not _exists(conn):
        return ["the events namespace is missing (the outbox's revision is not applied)"]
    topics = {r[0] for r in conn.execute("SELECT name FROM events.topics").fetchall()}
    problems = []
    for sub in subscriptions:
        role = prefix + sub.role
        for topic in sub.topics:
            if topic not in topics:
                problems.append(f"subscription {sub.consumer} takes undeclared topic {topic}")
        row = conn.execute(
            "SELECT role_name FROM events.subscriptions WHERE consumer = %s", [sub.consumer]
        ).fetchone()
        if row is None:
            problems.append(f"subscription {sub.consumer} does not exist (run mergepoint migrate)")
        elif row[0] != role:
            problems.append(f"subscription {sub.consumer} belongs to {row[0]}, not {role}")
        for function in (POLL, ACK):
            allowed = conn.execute(
                "SELECT pg_roles.oid IS NOT NULL AND has_function_privilege(%s, %s, 'EXECUTE')"
                " FROM (SELECT 1) one LEFT JOIN pg_roles ON rolname = %s",
                [role, function, role],
            ).fetchone()
            if not (allowed and allowed[0]):
                problems.append(f"role {role} may not call {function.split('(')[0]}")
    return problems


@dataclass(frozen=True)
class ConsumerStatus:
    consumer: str
    role: str
    topics: tuple[str, ...]
    cursor: str  # "txid:id"
    behind: int
    oldest_age: timedelta | None  # of the oldest event it has not acknowledged
    acked_at: datetime | None


@dataclass(frozen=True)
class HorizonHolder:
    """A transaction holding an xid, oldest first: delivery waits until it ends."""

    pid: int | None
    role: str
    database: str
    age: timedelta
    state: str  # backend state, or "prepared"


def status(url: str) -> tuple[list[ConsumerStatus], list[HorizonHolder]]:
    with owner_connect(url, autocommit=True) as conn:
        if not _exists(conn):
            raise MergepointError("the events namespace is missing: run mergepoint migrate")
        consumers = [
            ConsumerStatus(r[0], r[1], tuple(r[2]), f"{r[3]}:{r[4]}", r[5], r[6], r[7])
            for r in conn.execute(
                """
                SELECT s.consumer, s.role_name, s.topics, s.cursor_txid, s.cursor_id,
                       b.behind, now() - b.oldest, s.acked_at
                  FROM events.subscriptions s,
                       LATERAL (SELECT count(*) AS behind, min(o.created_at) AS oldest
                                  FROM events.outbox o
                                 WHERE (o.txid, o.id) > (s.cursor_txid, s.cursor_id)
                                   AND o.topic = ANY (s.topics)) b
                 ORDER BY s.consumer
                """
            ).fetchall()
        ]
        holders = [
            HorizonHolder(r[0], r[1] or "-", r[2] or "-", r[3], r[4])
            for r in conn.execute(
                """
                SELECT pid, usename, datname, now() - xact_start, coalesce(state, '-')
                  FROM pg_stat_activity
                 WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
                UNION ALL
                SELECT NULL, owner, database, now() - prepared, 'prepared'
                  FROM pg_prepared_xacts
                 ORDER BY 4 DESC NULLS LAST
                 LIMIT 5
                """
            ).fetchall()
        ]
    return consumers, holders


def prune(url: str, older_than: timedelta) -> int:
    """Delete events older than ``older_than`` that every subscription taking their topic
    has passed (a consumer that is down keeps its events)."""
    with owner_connect(url) as conn, conn.transaction():
        if not _exists(conn):
            raise MergepointError("the events namespace is missing: run mergepoint migrate")
        cur = conn.execute(
            """
            DELETE FROM events.outbox o
             WHERE o.created_at < now() - %s
               AND NOT EXISTS (SELECT 1 FROM events.subscriptions s
                                WHERE o.topic = ANY (s.topics)
                                  AND (o.txid, o.id) > (s.cursor_txid, s.cursor_id))
            """,
            [older_than],
        )
        return cur.rowcount


def replay(
    url: str, consumer: str, *, from_id: int | None = None, since: datetime | None = None
) -> str:
    """Move ``consumer``'s cursor back so it sees again the events from ``from_id`` (or
    created at or after ``since``) on; returns the new cursor. The owner's action."""
    if (from_id is None) == (since is None):
        raise MergepointError("replay from an event id (--from-id) or a time (--since)")
    with owner_connect(url) as conn, conn.transaction():
        if not _exists(conn):
            raise MergepointError("the events namespace is missing: run mergepoint migrate")
        if conn.execute(
            "SELECT 1 FROM events.subscriptions WHERE consumer = %s", [consumer]
        ).fetchone() is None:
            raise MergepointError(f"no subscription {consumer!r}: see mergepoint events status")
        if from_id is not None:
            first = conn.execute(
                "SELECT txid, id FROM events.outbox WHERE id >= %s ORDER BY id LIMIT 1", [from_id]
            ).fetchone()
        else:
            first = conn.execute(
                "SELECT txid, id FROM events.outbox WHERE created_at >= %s"
                " ORDER BY txid, id LIMIT 1",
                [since],
            ).fetchone()
        if first is None:
            raise MergepointError("no event at or after that point: nothing to replay")
        conn.execute(
            "UPDATE events.subscriptions SET cursor_txid = %s::xid8, cursor_id = %s - 1"
            " WHERE consumer = %s",
            [first[0], first[1], consumer],
        )
    return f"{first[0]}:{first[1] - 1}"
