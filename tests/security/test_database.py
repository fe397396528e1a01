"""Red team: the database holds against an app role whose credentials are stolen.

Each test performs an attack as the compromised role, with the SQL its grants allow, and
asserts that it is refused (or neutralized) and that nothing changed. docs/design.md, "Trust
boundary", says what must hold; schema/roles.py and alembic/versions/0004 make it hold.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import errors, sql

from schema import db, deploy, migrations, roles
from schema.urls import to_libpq, with_dbname, with_user
from tests.data import Shop

# A function an app role may create in its own namespace, named like a catalog function
# (an exact match for (integer, integer), which the catalog's (integer, bigint) is not),
# that would take over any session that resolved it: it records the call, steps out of
# SET ROLE and makes the owner grant the attacker the back office's role.
HIJACK = """
CREATE TABLE IF NOT EXISTS storefront.pwned (who text, at timestamptz DEFAULT now());
CREATE OR REPLACE FUNCTION storefront.pg_terminate_backend(integer, integer)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO storefront.pwned (who) VALUES (current_user);
    RESET ROLE;
    EXECUTE format('GRANT %I TO %I', {backoffice}, {storefront});
    RETURN true;
END $$;
"""


def hijack_sql(prefix: str) -> sql.Composed:
    return sql.SQL(HIJACK).format(
        backoffice=sql.Literal(prefix + "backoffice"),
        storefront=sql.Literal(prefix + "storefront"),
    )


def member_of(conn: psycopg.Connection, member: str, role: str) -> bool:
    row = conn.execute(
        "SELECT pg_has_role(%s, %s, 'MEMBER')", [member, role]
    ).fetchone()
    return bool(row and row[0])


@pytest.mark.slow
def test_a_storefront_poller_cannot_join_the_migration_scratch_database(fresh_db, pg):
    """The migrate-time hijack: the vetting creates a scratch database; a storefront session
    polling for new databases joins it and plants a function the owner's cleanup would call.
    Now nobody but the owner may join it, and the owner never resolves an app's function."""
    prefix = fresh_db.prefix
    migrations.downgrade(fresh_db.owner_url, "0003")  # so migrate has a revision to vet
    seen: set[str] = set()
    joined: list[str] = []
    refused: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        with fresh_db.connect("storefront", autocommit=True) as conn:
            while not stop.is_set():
                for (name,) in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'mergepoint_vet_%'"
                ).fetchall():
                    seen.add(name)
                    try:
                        target = to_libpq(with_dbname(fresh_db.url("storefront"), name))
                        with psycopg.connect(target, autocommit=True) as inside:
                            joined.append(name)
                            inside.execute(hijack_sql(prefix))
                    except psycopg.Error as exc:
                        refused.append(type(exc).__name__)
                time.sleep(0.001)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        result = deploy.migrate(fresh_db.owner_url, "head", prefix=prefix)
    finally:
        stop.set()
        poller.join(30)
    assert result.after == migrations.head()
    assert seen, "the poller never saw the scratch database: the race was not exercised"
    assert joined == [], "an app role joined the scratch database"
    assert refused and set(refused) <= {"OperationalError"}, refused
    with fresh_db.connect(autocommit=True) as owner:
        assert not member_of(owner, prefix + "storefront", prefix + "backoffice")
    assert deploy.check(fresh_db.owner_url, prefix).ok


def test_dropping_a_database_never_runs_an_app_roles_function(pg):
    """drop_database ends the app's sessions without SET ROLE and with catalog names only:
    a planted pg_terminate_backend(integer, integer) is never called."""
    database = pg.clone(f"{pg.prefix}drop{time.monotonic_ns() % 10**6}", pg.template)
    planted = database.connect("storefront", autocommit=True)
    try:
        planted.execute(hijack_sql(pg.prefix))
        with database.connect("backoffice", autocommit=True) as other:
            other.execute("SELECT 1")
            pg.drop(database.name)
        with pg.owner_conn() as owner:
            assert owner.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database.name]
            ).fetchone() is None
            assert not member_of(owner, pg.prefix + "storefront", pg.prefix + "backoffice")
        with pytest.raises(psycopg.OperationalError):
            planted.execute("SELECT 1")  # its session was ended, not run as the owner
    finally:
        planted.close()


def test_owner_sessions_resolve_names_in_the_catalog_only(fresh_db):
    with db.owner_connect(fresh_db.owner_url) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("pg_catalog,pg_temp",)


def test_new_databases_admit_only_the_roles_granted_connect(pg, fresh_db):
    with pg.owner_conn() as owner:
        acl = owner.execute(
            "SELECT datacl::text FROM pg_database WHERE datname = %s", [fresh_db.name]
        ).fetchone()[0]
    assert not [item for item in acl.strip("{}").split(",") if item.startswith("=")], acl
    stranger = f"{pg.prefix}stranger"
    with pg.admin() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(stranger)))
    try:
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(to_libpq(with_user(fresh_db.owner_url, stranger)))
    finally:
        with pg.admin() as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(stranger)))


# --- the back office, compromised ----------------------------------------------------------


def test_a_backoffice_trigger_of_its_own_cannot_write_a_cancel_movement(fresh_db, shop):
    """The old guard trusted pg_trigger_depth(): a trigger on a table the back office owns
    put a cancel movement one level deeper. Now the rule asks who writes."""
    pid = shop.product(stock=5)
    oid = shop.order({pid: 3})
    attack = """
        CREATE TABLE backoffice.relay (product_id bigint, order_id bigint);
        CREATE FUNCTION backoffice.relay_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO shop.stock_movements (product_id, delta, reason)
            VALUES (NEW.product_id, 3, 'cancel');
            RETURN NEW;
        END $$;
        CREATE TRIGGER relay AFTER INSERT ON backoffice.relay
            FOR EACH ROW EXECUTE FUNCTION backoffice.relay_cancel();
    """
    with fresh_db.connect("backoffice", autocommit=True) as conn:
        conn.execute(attack)
        with pytest.raises(errors.CheckViolation) as refused:
            conn.execute(
                "INSERT INTO backoffice.relay VALUES (%s, %s)", [pid, oid]
            )
    assert refused.value.diag.message_primary == "ledger_reason_reserved"
    assert shop.stock(pid) == 2 and shop.status(oid) == "placed"
    # The real cancel still returns the stock, once.
    assert shop.cancel(oid, "backoffice") == 1
    assert shop.stock(pid) == 5 == shop.ledger_sum(pid)


@pytest.mark.parametrize(
    "statement",
    [
        # a forged actor, a backdated movement, a movement tied to an order
        "INSERT INTO shop.stock_movements (product_id, delta, reason, actor)"
        " VALUES ({pid}, 1, 'restock', 'storefront:customer:1')",
        "INSERT INTO shop.stock_movements (product_id, delta, reason, created_at)"
        " VALUES ({pid}, 1, 'restock', '2001-01-01')",
        "INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)"
        " VALUES ({pid}, 1, 'cancel', {oid})",
        # future ids: the next storefront orders would fail on the primary key
        "INSERT INTO shop.stock_movements (id, product_id, delta, reason)"
        " OVERRIDING SYSTEM VALUE VALUES (9000000000, {pid}, 1, 'restock')",
        "INSERT INTO shop.products (id, sku, name, price_cents)"
        " OVERRIDING SYSTEM VALUE VALUES (9000000000, 'FORGED-1', 'x', 1)",
        "INSERT INTO shop.products (sku, name, price_cents, stock) VALUES ('FORGED-2', 'x', 1, 0)",
        "INSERT INTO shop.products (sku, name, price_cents, created_at)"
        " VALUES ('FORGED-3', 'x', 1, '2001-01-01')",
    ],
)
def test_the_backoffice_writes_only_the_columns_it_chooses(fresh_db, shop, statement):
    pid = shop.product(stock=5)
    oid = shop.order({pid: 1})
    before = (shop.count("stock_movements"), shop.count("products"))
    with fresh_db.connect("backoffice", autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement.format(pid=pid, oid=oid))
    assert (shop.count("stock_movements"), shop.count("products")) == before


def test_a_backoffice_setting_cannot_name_another_app(fresh_db, shop):
    pid = shop.product()
    with fresh_db.connect("backoffice") as conn:
        conn.execute("SELECT set_config('mergepoint.actor', 'storefront:customer:7', true)")
        conn.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " VALUES (%s, 2, 'restock')",
            [pid],
        )
        conn.commit()
    assert shop.product_movements(pid, "restock") == [(2, "backoffice:storefront:customer:7")]


# --- the storefront, compromised -----------------------------------------------------------


@pytest.mark.parametrize("status", ["paid", "shipped"])
def test_the_storefront_may_only_cancel(fresh_db, shop, status):
    oid = shop.order({shop.product(stock=5): 1})
    if status == "shipped":
        shop.set_status(oid, "paid")
    with fresh_db.connect("storefront", autocommit=True) as conn:
        with pytest.raises(errors.CheckViolation) as refused:
            conn.execute("UPDATE shop.orders SET status = %s WHERE id = %s", [status, oid])
    assert refused.value.diag.message_primary == "status_change_not_allowed"
    assert shop.status(oid) == ("placed" if status == "paid" else "paid")


def test_a_line_sells_at_the_products_price_whatever_the_storefront_sends(fresh_db, shop):
    pid = shop.product(price=1999, stock=5)
    customer = shop.customer()
    with fresh_db.connect("storefront") as conn:
        oid = conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
        ).fetchone()[0]
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO shop.order_lines (order_id, product_id, quantity, unit_price_cents)"
                " VALUES (%s, %s, 1, 0)",
                [oid, pid],
            )
        conn.rollback()
        oid = conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
        ).fetchone()[0]
        price = conn.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, 2)"
            " RETURNING unit_price_cents",
            [oid, pid],
        ).fetchone()[0]
        conn.commit()
    assert price == 1999
    total = shop.conn.execute("SELECT total_cents FROM shop.orders WHERE id = %s", [oid])
    assert total.fetchone() == (2 * 1999,)


def test_a_line_waits_for_a_concurrent_price_change_and_takes_the_new_price(fresh_db, shop):
    """The line reads the price under the product's row lock: never half a change."""
    pid = shop.product(price=500, stock=5)
    customer = shop.customer()
    with (
        fresh_db.connect("backoffice") as staff,
        fresh_db.connect("storefront") as buyer,
    ):
        staff.execute("UPDATE shop.products SET price_cents = 700 WHERE id = %s", [pid])
        oid = buyer.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
        ).fetchone()[0]
        prices: list[int] = []
        line = threading.Thread(
            target=lambda: prices.append(
                buyer.execute(
                    "INSERT INTO shop.order_lines (order_id, product_id, quantity)"
                    " VALUES (%s, %s, 1) RETURNING unit_price_cents",
                    [oid, pid],
                ).fetchone()[0]
            )
        )
        line.start()
        time.sleep(0.3)
        assert line.is_alive(), "the line did not wait for the price change's lock"
        staff.commit()
        line.join(10)
        buyer.commit()
    assert prices == [700]


def test_a_storefront_setting_naming_staff_is_kept_only_as_detail(fresh_db, shop):
    pid = shop.product(stock=5)
    oid = shop.order({pid: 2})
    with fresh_db.connect("storefront") as conn:
        conn.execute("SELECT set_config('mergepoint.actor', 'backoffice:admin', true)")
        conn.execute("UPDATE shop.orders SET status = 'cancelled' WHERE id = %s", [oid])
        conn.commit()
    assert shop.order_movements(oid, "cancel") == [(pid, 2, "storefront:backoffice:admin")]


def test_app_roles_cannot_read_who_is_which_app(fresh_db):
    for role in ("storefront", "backoffice", "reporting"):
        with fresh_db.connect(role) as conn:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM shop.app_roles")


# --- drift: what the code does not declare --------------------------------------------------


def test_check_reports_an_undeclared_membership_and_function_and_reconcile_removes_them(
    fresh_db, owner
):
    prefix = fresh_db.prefix
    owner.execute(
        sql.SQL("GRANT {} TO {}").format(
            sql.Identifier(prefix + "backoffice"), sql.Identifier(prefix + "storefront")
        )
    )
    owner.execute(
        "CREATE FUNCTION shop.sf_exec(text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER"
        " AS $$ BEGIN EXECUTE $1; END $$"
    )
    result = deploy.check(fresh_db.owner_url, prefix)
    assert not result.ok
    assert any("undeclared membership" in line and "storefront" in line for line in result.drift)
    assert "undeclared function: shop.sf_exec(text)" in result.drift
    report = roles.reconcile(fresh_db.owner_url, prefix)
    assert any(change.startswith("REVOKE") for change in report.changes)
    assert "DROP FUNCTION shop.sf_exec(text)" in report.changes
    assert deploy.check(fresh_db.owner_url, prefix).ok


def test_the_head_revision_creates_exactly_the_declared_functions(owner):
    from schema.rules import FUNCTIONS

    live = {
        r[0]
        for r in owner.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n"
            " ON n.oid = p.pronamespace WHERE n.nspname IN ('shop', 'reporting')"
        ).fetchall()
    }
    assert live == FUNCTIONS


def test_the_data_builder_writes_as_each_role(fresh_db):
    """tests/data.py is the attacker's grants' honest twin: it writes what each role may."""
    shop = Shop(fresh_db)
    try:
        oid = shop.order({shop.product(stock=3): 1}, status="shipped")
        actors = shop.conn.execute(
            "SELECT DISTINCT actor FROM shop.stock_movements ORDER BY 1"
        ).fetchall()
    finally:
        shop.close()
    assert oid and actors == [("backoffice:test",), ("storefront",)]
