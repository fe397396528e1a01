"""``manage.py migrate`` builds Django's tables in ``backoffice`` and never touches ``shop``
or ``tasks`` (procrastinate's tables are the shared schema's: MIGRATION_MODULES)."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from psycopg import sql

from schema.paths import ROOT
from tests.data import Shop

MANAGE = ROOT / "apps" / "django_app" / "manage.py"

# Everything about the shared namespaces a migration could change, data included.
FINGERPRINT = [
    """SELECT c.relname, c.relkind, c.relfilenode, c.relacl::text, c.reloptions::text
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('shop', 'reporting', 'tasks') ORDER BY 1""",
    """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(d.adbin, d.adrelid), a.attacl::text
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname IN ('shop', 'tasks') AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(k.oid)
         FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
        WHERE n.nspname IN ('shop', 'tasks') ORDER BY 1, 2""",
    """SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('shop', 'tasks') ORDER BY 1""",
    """SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('shop', 'tasks') ORDER BY 1""",
    """SELECT p.proname, md5(p.prosrc), p.proacl::text FROM pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('shop', 'tasks') ORDER BY 1""",
    """SELECT nspname, nspacl::text FROM pg_namespace ORDER BY 1""",
    "SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM tasks.procrastinate_jobs t",
    "SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM shop.customers t",
    "SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM shop.products t",
    "SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM shop.orders t",
    "SELECT md5(string_agg(t::text, ',' ORDER BY t.order_id, t.product_id))"
    " FROM shop.order_lines t",
    "SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM shop.stock_movements t",
]

# pg_tables, not information_schema: the latter hides tables the owner has no grant on.
DJANGO_TABLES = """
SELECT schemaname, tablename FROM pg_tables
 WHERE tablename LIKE 'django\\_%' OR tablename LIKE 'auth\\_%'
"""


def fingerprint(conn: psycopg.Connection) -> list[list[tuple]]:
    return [conn.execute(query).fetchall() for query in FINGERPRINT]


def migrate(url: str) -> subprocess.CompletedProcess[str]:
    """As an operator runs it: only the back office's URL and a secret key."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BACKOFFICE_DATABASE_URL": url,
        "DJANGO_SECRET_KEY": "test-only-not-secret",
    }
    return subprocess.run(
        [sys.executable, str(MANAGE), "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def drop_django_tables(conn: psycopg.Connection) -> None:
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'backoffice'"
    ).fetchall()
    for (table,) in tables:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier("backoffice", table))
        )


def test_migrate_creates_djangos_tables_in_backoffice_and_leaves_shop_untouched(fresh_db):
    shop = Shop(fresh_db)
    try:
        pid = shop.product(stock=9)
        shop.order({pid: 2}, status="paid")
        shop.connection("backoffice").execute(  # a job in the queue, which migrate leaves be
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('backoffice', 'backoffice.x', 0,"
            " NULL, NULL, '{}'::jsonb, NULL)]::procrastinate_job_to_defer_v1[])"
        )
        # Start from a back office that was never migrated.
        drop_django_tables(shop.connection("backoffice"))
    finally:
        shop.close()
    with fresh_db.connect(autocommit=True) as owner:
        assert owner.execute(DJANGO_TABLES).fetchall() == []
        before = fingerprint(owner)

    result = migrate(fresh_db.url("backoffice"))
    assert result.returncode == 0, result.stderr
    assert "Applying backoffice.0002_clerks_group... OK" in result.stdout

    with fresh_db.connect(autocommit=True) as owner:
        assert fingerprint(owner) == before
        schemas = {schema for schema, _ in owner.execute(DJANGO_TABLES).fetchall()}
        assert schemas == {"backoffice"}
    with fresh_db.connect("backoffice") as backoffice:  # the owner may not read it
        clerks = backoffice.execute(
            "SELECT p.codename FROM backoffice.auth_group g"
            " JOIN backoffice.auth_group_permissions gp ON gp.group_id = g.id"
            " JOIN backoffice.auth_permission p ON p.id = gp.permission_id"
            " WHERE g.name = 'clerks' ORDER BY 1"
        ).fetchall()
    assert [c for (c,) in clerks] == [
        "change_feeditem",
        "change_order_status",
        "restock_product",
        "view_customer",
        "view_feeditem",
        "view_order",
        "view_orderline",
        "view_product",
        "view_shopsettings",
        "view_stockmovement",
    ]

    again = migrate(fresh_db.url("backoffice"))
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply." in again.stdout


def test_the_session_database_has_djangos_tables_only_in_backoffice(session_db):
    with session_db.connect() as owner:
        schemas = {schema for schema, _ in owner.execute(DJANGO_TABLES).fetchall()}
    assert schemas == {"backoffice"}


def test_create_superuser_without_a_prompt(fresh_db):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BACKOFFICE_DATABASE_URL": fresh_db.url("backoffice"),
        "DJANGO_SECRET_KEY": "test-only-not-secret",
        "DJANGO_SUPERUSER_USERNAME": "boss",
        "DJANGO_SUPERUSER_EMAIL": "boss@example.test",
        "DJANGO_SUPERUSER_PASSWORD": "a long enough passphrase",
    }
    result = subprocess.run(
        [sys.executable, str(MANAGE), "createsuperuser", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with fresh_db.connect("backoffice") as backoffice:
        row = backoffice.execute(
            "SELECT is_superuser, is_staff FROM backoffice.auth_user WHERE username = 'boss'"
        ).fetchone()
    assert row == (True, True)


def test_the_staff_session_triggers_migrate_down_and_up_again(fresh_db):
    triggers = (
        "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'backoffice' AND t.tgname LIKE 'staff\\_sessions\\_%'"
    )
    with fresh_db.connect(autocommit=True) as owner:
        assert owner.execute(triggers).fetchone() == (6,)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BACKOFFICE_DATABASE_URL": fresh_db.url("backoffice"),
        "DJANGO_SECRET_KEY": "test-only-not-secret",
    }
    down = subprocess.run(
        [sys.executable, str(MANAGE), "migrate", "backoffice", "0002", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert down.returncode == 0, down.stderr
    with fresh_db.connect(autocommit=True) as owner:
        assert owner.execute(triggers).fetchone() == (0,)
    up = migrate(fresh_db.url("backoffice"))
    assert up.returncode == 0, up.stderr
    assert "Applying backoffice.0006_staff_sessions_follow_users... OK" in up.stdout
    with fresh_db.connect(autocommit=True) as owner:
        assert owner.execute(triggers).fetchone() == (6,)
