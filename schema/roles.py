"""Who may do what, as data: the one source of grants for the application roles.

``reconcile`` makes the server match this file exactly: it creates the login roles and
their namespaces, grants what is listed (column-level where a column list is given) and
revokes whatever else a managed role holds on the owner's namespaces. No default
privileges are used, so a new table is reachable only once it is listed here.
Role names take MERGEPOINT_ROLE_PREFIX; roles are server-wide, so reconciliation is
serialized with an advisory lock taken in the ``postgres`` database and retried when
PostgreSQL reports ``tuple concurrently updated``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from schema.db import owner_connect
from schema.errors import MergepointError, one_line
from schema.rules import FUNCTIONS
from schema.tables import EVENTS, IDENTITY, OWNED_SCHEMAS, REPORTING, SHOP, TABLE_NAMES, TASKS
from schema.tasks import EVENTS as TASK_EVENTS
from schema.tasks import JOBS, PERIODIC_DEFERS, SEQUENCES, WORKER_CALLS, WORKERS
from schema.urls import with_dbname

ROLES_LOCK_KEY = 0x6D70_726F  # "mpro", taken in the postgres database
RETRIES = 8


@dataclass(frozen=True)
class Grant:
    privilege: str
    table: str  # schema-qualified
    columns: tuple[str, ...] = ()  # empty: the whole table


@dataclass(frozen=True)
class RoleSpec:
    name: str
    owns: str | None  # the role's own namespace
    usage: tuple[str, ...]
    grants: tuple[Grant, ...]
    settings: dict[str, str] = field(default_factory=dict)
    # EXECUTE on these functions (regprocedure text, as schema.rules.FUNCTIONS spells them)
    executes: tuple[str, ...] = ()


def _on(privilege: str, tables: Iterable[str], *columns: str) -> tuple[Grant, ...]:
    return tuple(Grant(privilege, f"{SHOP}.{t}", tuple(columns)) for t in tables)


ALL_SHOP = TABLE_NAMES
# The event protocol (0005): a consumer polls and acknowledges its own subscription only.
CONSUMES = ("events.poll(text,integer)", "events.ack(text,xid8,bigint)")

# identity's functions (alembic/versions/0006): the back office starts and ends staff
# sessions, the storefront looks one up by hash. Nobody reads identity.staff_sessions.
BEGIN_STAFF_SESSION = (
    f"{IDENTITY}.begin_staff_session(text,bigint,text,boolean,text[],timestamp with time zone)"
)
END_STAFF_SESSION = f"{IDENTITY}.end_staff_session(text)"
END_USER_STAFF_SESSIONS = f"{IDENTITY}.end_user_staff_sessions(bigint)"
STAFF_SESSION = f"{IDENTITY}.staff_session(text)"

# The task queue (alembic 0007): what procrastinate's worker and deferrer do, as each app
# role, each on its own queue only (row-level security). Column-level INSERT: ids, status,
# attempts and a worker's app come from the database.
QUEUE_WORKER: tuple[Grant, ...] = (
    Grant("SELECT", JOBS),
    Grant(
        "INSERT",
        JOBS,
        ("queue_name", "task_name", "priority", "lock", "queueing_lock", "args", "scheduled_at"),
    ),
    Grant(
        "UPDATE",
        JOBS,
        (
            "status",
            "worker_id",
            "abort_requested",
            "attempts",
            "scheduled_at",
            "priority",
            "queue_name",
            "lock",
        ),
    ),
    Grant("DELETE", JOBS),
    Grant("SELECT", WORKERS),
    Grant("INSERT", WORKERS, ("last_heartbeat",)),  # INSERT … DEFAULT VALUES needs a column
    Grant("UPDATE", WORKERS, ("last_heartbeat",)),
    Grant("DELETE", WORKERS),
    Grant("SELECT", TASK_EVENTS),
    Grant("INSERT", TASK_EVENTS, ("job_id", "type", "at")),  # procrastinate's triggers
    Grant("SELECT", PERIODIC_DEFERS),
    Grant("INSERT", PERIODIC_DEFERS, ("task_name", "periodic_id", "defer_timestamp")),
    Grant("UPDATE", PERIODIC_DEFERS, ("job_id",)),
    Grant("DELETE", PERIODIC_DEFERS),
    *(Grant("USAGE", sequence) for sequence in SEQUENCES),
)

ROLES: tuple[RoleSpec, ...] = (
    RoleSpec(
        name="storefront",
        owns="storefront",
        usage=(SHOP, EVENTS, IDENTITY, TASKS),
        grants=(
            *_on("SELECT", ("products", "customers", "orders", "order_lines")),
            *_on("INSERT", ("customers",), "email", "name"),
            *_on("INSERT", ("orders",), "customer_id", "idempotency_key", "request_hash"),
            # The price comes from the database (order_lines_price), read back by RETURNING.
            *_on("INSERT", ("order_lines",), "order_id", "product_id", "quantity"),
            *_on("UPDATE", ("orders",), "status"),
            *_on("REFERENCES", ("customers",), "id"),
            *_on("SELECT", ("settings",)),
            *QUEUE_WORKER,
        ),
        executes=(*CONSUMES, STAFF_SESSION, *WORKER_CALLS),
        settings={
            # procrastinate's SQL and Python side name nothing with a schema.
            "search_path": TASKS,
            "statement_timeout": "10s",
            "lock_timeout": "5s",
            "idle_in_transaction_session_timeout": "60s",
        },
    ),
    RoleSpec(
        name="backoffice",
        owns="backoffice",
        usage=(SHOP, EVENTS, IDENTITY, TASKS),
        grants=(
            *_on("SELECT", ALL_SHOP),
            # Column-level: ids, actors, timestamps and stock come from the database.
            *_on("INSERT", ("products",), "sku", "name", "price_cents", "active"),
            *_on("INSERT", ("stock_movements",), "product_id", "delta", "reason"),
            *_on("UPDATE", ("products",), "name", "price_cents", "active"),
            *_on("UPDATE", ("orders",), "status"),
            *_on("SELECT", ("settings",)),
            *_on("UPDATE", ("settings",), "low_stock_threshold"),
            *QUEUE_WORKER,
        ),
        executes=(
            *CONSUMES,
            BEGIN_STAFF_SESSION,
            END_STAFF_SESSION,
            END_USER_STAFF_SESSIONS,
            *WORKER_CALLS,
        ),
        # Set on the role, not at connect: a transaction pooler refuses startup options,
        # and Django would otherwise `SET TIME ZONE` on every new session.
        settings={
            "search_path": f"backoffice, shop, {TASKS}",
            "TimeZone": "UTC",
            "statement_timeout": "30s",
            "lock_timeout": "5s",
            "idle_in_transaction_session_timeout": "60s",
        },
    ),
    RoleSpec(
        name="reporting",
        owns=None,
        usage=(SHOP, REPORTING),
        grants=(
            *_on("SELECT", ALL_SHOP),
            *_on("SELECT", ("settings",)),
            Grant("SELECT", f"{REPORTING}.customer_lifetime_value"),
            Grant("SELECT", f"{REPORTING}.ledger_audit"),
        ),
        settings={
            "default_transaction_read_only": "on",
            "statement_timeout": "30s",
        },
    ),
)


def role_name(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


@dataclass
class Report:
    """What a reconcile run changed, as readable statements."""

    changes: list[str] = field(default_factory=list)

    def add(self, statement: sql.Composed, conn: psycopg.Connection) -> None:
        conn.execute(statement)
        self.changes.append(statement.as_string(conn))


def reconcile(
    url: str, prefix: str = "", specs: tuple[RoleSpec, ...] = ROLES, *, connect: bool = True
) -> Report:
    """Make the roles, namespaces and grants in ``url``'s database match ``specs``.

    ``connect``: grant the roles CONNECT on this database (a scratch database that only
    the owner may join passes False).
    """
    with owner_connect(with_dbname(url, "postgres"), autocommit=True) as lock_conn:
        lock_conn.execute("SET lock_timeout = 0")
        lock_conn.execute("SELECT pg_advisory_lock(%s)", [ROLES_LOCK_KEY])
        try:
            for attempt in range(RETRIES):
                try:
                    with owner_connect(url) as conn:
                        report = Report()
                        with conn.transaction():
                            _reconcile(conn, prefix, specs, report, connect)
                        return report
                except psycopg.errors.InternalError_ as exc:
                    # Another database's migrate touching the same shared catalog rows.
                    if "tuple concurrently updated" not in str(exc) or attempt == RETRIES - 1:
                        raise
                    time.sleep(0.05 * (attempt + 1))
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise MergepointError(f"cannot reconcile roles: {one_line(exc)}") from exc
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", [ROLES_LOCK_KEY])
    raise AssertionError("unreachable")


def _reconcile(
    conn: psycopg.Connection,
    prefix: str,
    specs: tuple[RoleSpec, ...],
    report: Report,
    connect: bool = True,
) -> None:
    server_version = conn.info.server_version
    owner = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
    names = [role_name(prefix, s.name) for s in specs]
    for spec in specs:
        _ensure_role(conn, role_name(prefix, spec.name), owner, server_version, spec, report)
    for spec in specs:
        if spec.owns:
            _ensure_namespace(conn, spec.owns, role_name(prefix, spec.name), report)
    _reconcile_memberships(conn, names, owner, report)
    if connect:
        _grant_connect(conn, names, report)
    _reconcile_usage(conn, specs, prefix, report)
    _reconcile_tables(conn, specs, prefix, names, report)
    _reconcile_app_roles(conn, {role_name(prefix, s.name): s.name for s in specs}, report)
    undeclared = _undeclared_functions(conn)
    for function in undeclared:
        report.add(sql.SQL("DROP FUNCTION {}").format(sql.SQL(function)), conn)
    _reconcile_functions(conn, specs, prefix, names, report)


def _ensure_role(
    conn: psycopg.Connection,
    name: str,
    owner: str,
    server_version: int,
    spec: RoleSpec,
    report: Report,
) -> None:
    role = sql.Identifier(name)
    row = conn.execute(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit FROM pg_roles"
        " WHERE rolname = %s",
        [name],
    ).fetchone()
    if row is None:
        report.add(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB NOCREATEROLE").format(role), conn)
    elif row != (True, False, False, False, True):
        report.add(
            sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT").format(role),
            conn,
        )
    # The owner holds each app role WITH INHERIT TRUE, SET TRUE: SET so it may create the
    # role's namespace for it (PostgreSQL 16+ separates SET from membership), INHERIT so it
    # may end the role's sessions (pg_terminate_backend) without ever running as it.
    if server_version >= 160000:
        options = "bool_or(m.set_option) AND bool_or(m.inherit_option)"
    else:
        options = "true"
    member = conn.execute(
        sql.SQL(
            "SELECT {} FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
            " JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = %s AND u.rolname = %s"
            " HAVING count(*) > 0"
        ).format(sql.SQL(options)),
        [name, owner],
    ).fetchone()
    if not member or not member[0]:
        if server_version >= 160000:
            stmt = sql.SQL("GRANT {} TO {} WITH INHERIT TRUE, SET TRUE")
        else:
            stmt = sql.SQL("GRANT {} TO {}")
        report.add(stmt.format(role, sql.Identifier(owner)), conn)
    current = dict(
        setting.split("=", 1)
        for (setting,) in conn.execute(
            "SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_roles r"
            " ON r.oid = s.setrole WHERE r.rolname = %s AND s.setdatabase = 0",
            [name],
        ).fetchall()
    )
    for key, value in spec.settings.items():
        if _normalize(current.get(key)) != _normalize(value):
            report.add(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    role, sql.Identifier(key), _setting_value(key, value)
                ),
                conn,
            )
    for key in current.keys() - spec.settings.keys():
        report.add(sql.SQL("ALTER ROLE {} RESET {}").format(role, sql.Identifier(key)), conn)


def _setting_value(key: str, value: str) -> sql.Composable:
    if key == "search_path":  # a list of names, not one quoted string
        return sql.SQL(", ").join(sql.Identifier(n.strip()) for n in value.split(","))
    return sql.Literal(value)


def _normalize(value: str | None) -> str | None:
    return None if value is None else value.replace('"', "").replace(" ", "")


def _ensure_namespace(conn: psycopg.Connection, namespace: str, role: str, report: Report) -> None:
    row = conn.execute(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [namespace]
    ).fetchone()
    if row is None:
        report.add(
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(namespace), sql.Identifier(role)
            ),
            conn,
        )
    elif row[0] != role:
        report.add(
            sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                sql.Identifier(namespace), sql.Identifier(role)
            ),
            conn,
        )


def _reconcile_app_roles(conn: psycopg.Connection, apps: dict[str, str], report: Report) -> None:
    """``shop.app_roles``: which app each managed login role is (the rules read it)."""
    if conn.execute("SELECT to_regclass('shop.app_roles')").fetchone() == (None,):
        return  # not migrated that far (or downgraded)
    rows = conn.execute("SELECT role_name, app FROM shop.app_roles").fetchall()
    actual: dict[str, str] = {r[0]: r[1] for r in rows}
    for role, app in sorted(apps.items()):
        if actual.get(role) != app:
            report.add(
                sql.SQL(
                    "INSERT INTO shop.app_roles (role_name, app) VALUES ({}, {})"
                    " ON CONFLICT (role_name) DO UPDATE SET app = excluded.app"
                ).format(sql.Literal(role), sql.Literal(app)),
                conn,
            )
    for role in sorted(actual.keys() - apps.keys()):
        report.add(
            sql.SQL("DELETE FROM shop.app_roles WHERE role_name = {}").format(sql.Literal(role)),
            conn,
        )


def _undeclared_functions(conn: psycopg.Connection) -> list[str]:
    """Functions in the owner's namespaces that no migration declares (schema.rules)."""
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s) ORDER BY 1",
        [list(OWNED_SCHEMAS)],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in FUNCTIONS]


# (grantee, "schema.function(argtypes)"): EXECUTE held; grantee "" is PUBLIC.
Execute = tuple[str, str]


def _actual_executes(conn: psycopg.Connection, managed: list[str]) -> set[Execute]:
    """EXECUTE on the owner's functions held by a managed role or by PUBLIC (a function
    whose ACL was never set is executable by PUBLIC)."""
    rows = conn.execute(
        """
        SELECT COALESCE(g.rolname, ''), p.oid::regprocedure::text
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
               LATERAL aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
          LEFT JOIN pg_roles g ON g.oid = a.grantee
         WHERE n.nspname = ANY(%(schemas)s) AND a.privilege_type = 'EXECUTE'
           AND (a.grantee = 0 OR g.rolname = ANY(%(roles)s))
        """,
        {"schemas": list(OWNED_SCHEMAS), "roles": managed},
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def _execute_changes(
    conn: psycopg.Connection, specs: tuple[RoleSpec, ...], prefix: str, managed: list[str]
) -> tuple[set[Execute], set[Execute]]:
    """(held but not declared, declared but not held): EXECUTE as ``executes`` says, on
    functions that exist, and never to PUBLIC."""
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s)",
            [list(OWNED_SCHEMAS)],
        ).fetchall()
    }
    desired = {(role_name(prefix, s.name), f) for s in specs for f in s.executes if f in existing}
    actual = _actual_executes(conn, managed)
    return actual - desired, desired - actual


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == "" else sql.Identifier(name)


def _reconcile_functions(
    conn: psycopg.Connection,
    specs: tuple[RoleSpec, ...],
    prefix: str,
    managed: list[str],
    report: Report,
) -> None:
    extra, missing = _execute_changes(conn, specs, prefix, managed)
    for name, function in sorted(extra):
        report.add(
            sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM {}").format(
                sql.SQL(function), _grantee(name)
            ),
            conn,
        )
    for name, function in sorted(missing):
        report.add(
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), _grantee(name)),
            conn,
        )


def executes(url: str, prefix: str = "", specs: tuple[RoleSpec, ...] = ROLES) -> set[Execute]:
    """Who may EXECUTE the owner's functions now ("" is PUBLIC): for tests and ``check``."""
    with owner_connect(url) as conn:
        return _actual_executes(conn, [role_name(prefix, s.name) for s in specs])


def _grant_connect(conn: psycopg.Connection, names: list[str], report: Report) -> None:
    """CONNECT on this database, granted by name: the project's databases revoke it from
    PUBLIC, and a real server's may too."""
    database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    granted = {
        r[0]
        for r in conn.execute(
            "SELECT g.rolname FROM pg_database d, LATERAL aclexplode(d.datacl) a"
            " JOIN pg_roles g ON g.oid = a.grantee"
            " WHERE d.datname = current_database() AND a.privilege_type = 'CONNECT'"
        ).fetchall()
    }
    for name in names:
        if name not in granted:
            report.add(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(name)
                ),
                conn,
            )


# (role, member, grantor): a membership in or of a managed role.
Membership = tuple[str, str, str]


def _undeclared_memberships(
    conn: psycopg.Connection, managed: list[str], owner: str
) -> list[Membership]:
    """Memberships the code does not declare: the owner holding each app role is the only
    one; an app role is a member of nothing, and nobody else is a member of an app role."""
    rows = conn.execute(
        """
        SELECT r.rolname, u.rolname, g.rolname
          FROM pg_auth_members m
          JOIN pg_roles r ON r.oid = m.roleid
          JOIN pg_roles u ON u.oid = m.member
          JOIN pg_roles g ON g.oid = m.grantor
         WHERE (r.rolname = ANY(%(managed)s) AND u.rolname <> %(owner)s)
            OR u.rolname = ANY(%(managed)s)
         ORDER BY 1, 2, 3
        """,
        {"managed": managed, "owner": owner},
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _reconcile_memberships(
    conn: psycopg.Connection, managed: list[str], owner: str, report: Report
) -> None:
    for role, member, grantor in _undeclared_memberships(conn, managed, owner):
        statement = sql.SQL("REVOKE {} FROM {}").format(
            sql.Identifier(role), sql.Identifier(member)
        )
        if grantor != owner:
            statement += sql.SQL(" GRANTED BY {}").format(sql.Identifier(grantor))
        report.add(statement, conn)


def _reconcile_usage(
    conn: psycopg.Connection, specs: tuple[RoleSpec, ...], prefix: str, report: Report
) -> None:
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [list(OWNED_SCHEMAS)]
        ).fetchall()
    }
    # After a downgrade a namespace may be gone: grant only on what exists.
    desired = {(role_name(prefix, s.name), ns) for s in specs for ns in s.usage if ns in existing}
    managed = [role_name(prefix, s.name) for s in specs]
    actual = {
        (grantee, ns)
        for grantee, ns in conn.execute(
            "SELECT g.rolname, n.nspname FROM pg_namespace n,"
            " LATERAL aclexplode(n.nspacl) a JOIN pg_roles g ON g.oid = a.grantee"
            " WHERE n.nspname = ANY(%s) AND a.privilege_type = 'USAGE' AND g.rolname = ANY(%s)",
            [list(OWNED_SCHEMAS), managed],
        ).fetchall()
    }
    for grantee, ns in sorted(desired - actual):
        report.add(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(ns), sql.Identifier(grantee)
            ),
            conn,
        )
    for grantee, ns in sorted(actual - desired):
        report.add(
            sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(
                sql.Identifier(ns), sql.Identifier(grantee)
            ),
            conn,
        )


# (grantee, privilege, "schema.table", column or None)
Privilege = tuple[str, str, str, str | None]


def _actual_table_privileges(conn: psycopg.Connection, managed: list[str]) -> set[Privilege]:
    rows = conn.execute(
        """
        SELECT g.rolname, a.privilege_type, n.nspname || '.' || c.relname, NULL
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
               LATERAL aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantee
         WHERE n.nspname = ANY(%(schemas)s) AND g.rolname = ANY(%(roles)s)
        UNION ALL
        SELECT g.rolname, a.privilege_type, n.nspname || '.' || c.relname, att.attname
          FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace,
               LATERAL aclexplode(att.attacl) a JOIN pg_roles g ON g.oid = a.grantee
         WHERE n.nspname = ANY(%(schemas)s) AND g.rolname = ANY(%(roles)s)
        """,
        {"schemas": list(OWNED_SCHEMAS), "roles": managed},
    ).fetchall()
    return {(r[0], r[1], r[2], r[3]) for r in rows}


def _existing_relations(conn: psycopg.Connection) -> dict[str, set[str]]:
    """schema.table -> its column names, for the owner's namespaces."""
    relations: dict[str, set[str]] = {}
    for qualified, column in conn.execute(
        "SELECT n.nspname || '.' || c.relname, a.attname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm', 'p', 'S')",
        [list(OWNED_SCHEMAS)],
    ).fetchall():
        relations.setdefault(qualified, set()).add(column)
    return relations


def desired_privileges(
    specs: tuple[RoleSpec, ...], prefix: str, relations: dict[str, set[str]] | None = None
) -> set[Privilege]:
    """The privileges ``specs`` grant, limited to relations that exist (when given)."""
    out: set[Privilege] = set()
    for spec in specs:
        grantee = role_name(prefix, spec.name)
        for grant in spec.grants:
            if relations is not None and grant.table not in relations:
                continue  # not created yet (e.g. after a downgrade)
            if grant.columns:
                cols = grant.columns
                if relations is not None:
                    cols = tuple(c for c in cols if c in relations[grant.table])
                out.update((grantee, grant.privilege, grant.table, c) for c in cols)
            else:
                out.add((grantee, grant.privilege, grant.table, None))
    return out


def _reconcile_tables(
    conn: psycopg.Connection,
    specs: tuple[RoleSpec, ...],
    prefix: str,
    managed: list[str],
    report: Report,
) -> None:
    desired = desired_privileges(specs, prefix, _existing_relations(conn))
    actual = _actual_table_privileges(conn, managed)

    def target(table: str, column: str | None, privilege: str) -> sql.Composable:
        schema_name, _, name = table.partition(".")
        priv: sql.Composable = sql.SQL(privilege)
        if column is not None:
            priv = sql.SQL("{} ({})").format(priv, sql.Identifier(column))
        kind = sql.SQL("SEQUENCE" if privilege == "USAGE" else "TABLE")
        return sql.SQL("{} ON {} {}").format(priv, kind, sql.Identifier(schema_name, name))

    for grantee, privilege, table, column in sorted(actual - desired, key=str):
        report.add(
            sql.SQL("REVOKE {} FROM {}").format(
                target(table, column, privilege), sql.Identifier(grantee)
            ),
            conn,
        )
    for grantee, privilege, table, column in sorted(desired - actual, key=str):
        report.add(
            sql.SQL("GRANT {} TO {}").format(
                target(table, column, privilege), sql.Identifier(grantee)
            ),
            conn,
        )


def privilege_drift(
    url: str, prefix: str, namespace: str, specs: tuple[RoleSpec, ...] = ROLES
) -> list[str]:
    """Table and sequence privileges in ``namespace`` that differ from ``specs``."""
    with owner_connect(url) as conn:
        managed = [role_name(prefix, s.name) for s in specs]
        desired = desired_privileges(specs, prefix, _existing_relations(conn))
        actual = _actual_table_privileges(conn, managed)

    def mine(p: Privilege) -> bool:
        return p[2].startswith(f"{namespace}.")

    def text(p: Privilege) -> str:
        return f"{p[0]} {p[1]} on {p[2]}" + (f" ({p[3]})" if p[3] else "")

    return [
        f"undeclared privilege: {text(p)}" for p in sorted(actual - desired, key=str) if mine(p)
    ] + [f"missing privilege: {text(p)}" for p in sorted(desired - actual, key=str) if mine(p)]


def privileges(url: str, prefix: str = "", specs: tuple[RoleSpec, ...] = ROLES) -> set[Privilege]:
    """The privileges the managed roles hold now (for tests and ``check``)."""
    with owner_connect(url) as conn:
        return _actual_table_privileges(conn, [role_name(prefix, s.name) for s in specs])


def drift(url: str, prefix: str = "", specs: tuple[RoleSpec, ...] = ROLES) -> list[str]:
    """What the managed roles hold that this file does not declare, one line each.

    Memberships: any membership in or of an app role but the owner's own. Functions: any
    in the owner's namespaces that no migration declares, and EXECUTE on them held by
    PUBLIC or by a role this file does not grant it to. (Grants are reconciled exactly
    by ``reconcile``; ``check`` reports the ones a consumer needs.) ``reconcile`` revokes
    and drops what this reports.
    """
    with owner_connect(url) as conn:
        owner = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
        managed = [role_name(prefix, s.name) for s in specs]
        lines = [
            f"undeclared membership: {member} is a member of {role} (granted by {grantor})"
            for role, member, grantor in _undeclared_memberships(conn, managed, owner)
        ]
        lines += [f"undeclared function: {f}" for f in _undeclared_functions(conn)]
        extra, _missing = _execute_changes(conn, specs, prefix, managed)
        lines += [
            f"undeclared EXECUTE: {name or 'PUBLIC'} may run {function}"
            for name, function in sorted(extra)
        ]
        return lines
