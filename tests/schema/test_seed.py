"""`mergepoint seed`: fast demo data that leaves every database rule true.

Each test seeds a database cloned from the migrated template (``fresh_db``), small enough to
take a fraction of a second, and checks the rules with SQL, not with the seed's own code.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from datetime import UTC, datetime

import psycopg
import pytest

from schema import migrations
from schema.errors import MergepointError
from schema.rules import SQLSTATE
from schema.seed import Plan, customer_chunks, seed_shop
from tests.support import one_line_error

NOW = datetime(2026, 11, 25, tzinfo=UTC)
SIZES = {"customers": 60, "products": 25, "orders": 300}
SHOP_TABLES = ("customers", "products", "orders", "order_lines", "stock_movements")

# Each query counts the rows that break one rule: all must be 0 after seeding.
VIOLATIONS = {
    "stock is the sum of the product's movements, never negative": """
        SELECT count(*) FROM shop.products p
          LEFT JOIN (SELECT product_id, sum(delta) AS total FROM shop.stock_movements
                      GROUP BY product_id) m ON m.product_id = p.id
         WHERE p.stock <> coalesce(m.total, 0) OR p.stock < 0""",
    "the running stock never goes below zero (in ledger order)": """
        SELECT count(*) FROM (
            SELECT sum(delta) OVER (PARTITION BY product_id ORDER BY id) AS running
              FROM shop.stock_movements) r
         WHERE running < 0""",
    "each product's first movement is a restock": """
        SELECT count(*) FROM shop.products p
         WHERE (SELECT reason FROM shop.stock_movements m WHERE m.product_id = p.id
                 ORDER BY id LIMIT 1) IS DISTINCT FROM 'restock'""",
    "each line has exactly one sale movement, delta = -quantity": """
        SELECT count(*) FROM shop.order_lines l
         WHERE (SELECT count(*) FROM shop.stock_movements m
                 WHERE m.order_id = l.order_id AND m.product_id = l.product_id
                   AND m.reason = 'sale') <> 1
            OR NOT EXISTS (SELECT 1 FROM shop.stock_movements m
                 WHERE m.order_id = l.order_id AND m.product_id = l.product_id
                   AND m.reason = 'sale' AND m.delta = -l.quantity)""",
    "each line of a cancelled order has one cancel movement, other orders none": """
        SELECT count(*) FROM shop.order_lines l JOIN shop.orders o ON o.id = l.order_id
         WHERE (SELECT count(*) FROM shop.stock_movements m
                 WHERE m.order_id = l.order_id AND m.product_id = l.product_id
                   AND m.reason = 'cancel' AND m.delta = l.quantity)
               <> CASE WHEN o.status = 'cancelled' THEN 1 ELSE 0 END""",
    "no sale or cancel movement without its order line": """
        SELECT count(*) FROM shop.stock_movements m
         WHERE m.reason IN ('sale', 'cancel')
           AND NOT EXISTS (SELECT 1 FROM shop.order_lines l
                            WHERE l.order_id = m.order_id AND l.product_id = m.product_id)""",
    "total_cents is the sum of quantity * unit_price_cents": """
        SELECT count(*) FROM shop.orders o
         WHERE o.total_cents <> (SELECT coalesce(sum(l.quantity::bigint * l.unit_price_cents), 0)
                                   FROM shop.order_lines l WHERE l.order_id = o.id)""",
    "a line's unit price is its product's price": """
        SELECT count(*) FROM shop.order_lines l JOIN shop.products p ON p.id = l.product_id
         WHERE l.unit_price_cents <> p.price_cents""",
    "each order has 1 to 4 lines": """
        SELECT count(*) FROM shop.orders o
         WHERE (SELECT count(*) FROM shop.order_lines l WHERE l.order_id = o.id)
               NOT BETWEEN 1 AND 4""",
    "placed_at in the 180 days before now, updated_at >= placed_at": """
        SELECT count(*) FROM shop.orders
         WHERE updated_at < placed_at OR placed_at >= %(now)s
            OR placed_at < %(now)s - interval '180 days' OR updated_at > %(now)s""",
    "products updated no earlier than created": """
        SELECT count(*) FROM shop.products WHERE updated_at < created_at""",
    "every movement's actor is seed": """
        SELECT count(*) FROM shop.stock_movements WHERE actor <> 'seed'""",
    "movement ids follow their created_at": """
        SELECT count(*) FROM (
            SELECT created_at < lag(created_at) OVER (ORDER BY id) AS backwards
              FROM shop.stock_movements) m
         WHERE backwards""",
}

TRIGGER_STATES = """
    SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'shop'::regnamespace AND NOT t.tgisinternal
     ORDER BY 1, 2"""

SCHEMA_OBJECTS = """
    SELECT 'index', pg_get_indexdef(i.indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'shop'::regnamespace
    UNION ALL
    SELECT 'constraint ' || conname, pg_get_constraintdef(oid) || CASE WHEN convalidated
           THEN '' ELSE ' (not validated)' END
      FROM pg_constraint WHERE connamespace = 'shop'::regnamespace
     ORDER BY 1, 2"""


def table_digests(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row, per table, in key order."""
    digests = {}
    for table, key in (
        ("customers", "id"),
        ("products", "id"),
        ("orders", "id"),
        ("order_lines", "order_id, product_id"),
        ("stock_movements", "id"),
    ):
        row = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {key}), ''))"
            f" FROM shop.{table} t"
        ).fetchone()
        assert row is not None
        digests[table] = (row[0], row[1])
    return digests


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT count(*) FROM shop.{table}").fetchone()[0]
        for table in SHOP_TABLES
    }


def violations(conn: psycopg.Connection) -> dict[str, int]:
    found = {}
    for rule, query in VIOLATIONS.items():
        row = conn.execute(query, {"now": NOW}).fetchone()
        assert row is not None
        found[rule] = row[0]
    return found


def test_seeded_shop_keeps_every_rule(fresh_db):
    with fresh_db.connect() as conn:
        triggers_before = conn.execute(TRIGGER_STATES).fetchall()
        schema_before = conn.execute(SCHEMA_OBJECTS).fetchall()
        conn.commit()
        report = seed_shop(conn, **SIZES, seed=11, now=NOW)

        assert violations(conn) == dict.fromkeys(VIOLATIONS, 0)
        counts = row_counts(conn)
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM shop.orders GROUP BY 1").fetchall()
        )
        cancelled_lines = conn.execute(
            "SELECT count(*) FROM shop.order_lines l JOIN shop.orders o ON o.id = l.order_id"
            " WHERE o.status = 'cancelled'"
        ).fetchone()[0]
        emails = conn.execute(
            "SELECT count(DISTINCT lower(email)), bool_and(email ~ '^[^@\\s]+@[^@\\s]+$')"
            " FROM shop.customers"
        ).fetchone()
        skus_valid = conn.execute(
            "SELECT bool_and(sku ~ '^[A-Z0-9][A-Z0-9-]{0,63}$') FROM shop.products"
        ).fetchone()[0]
        # The triggers are back on, exactly as before; so are the FKs and indexes it rebuilt.
        triggers_after = conn.execute(TRIGGER_STATES).fetchall()
        schema_after = conn.execute(SCHEMA_OBJECTS).fetchall()

    assert counts == {
        "customers": 60,
        "products": 25,
        "orders": 300,
        "order_lines": report.order_lines,
        "stock_movements": 25 + report.order_lines + cancelled_lines,
    }
    assert report.stock_movements == counts["stock_movements"]
    assert sorted(statuses) == sorted(["placed", "paid", "shipped", "cancelled"])
    assert statuses == report.statuses
    assert 300 <= report.order_lines <= 1200
    assert emails == (60, True)
    assert skus_valid is True
    assert triggers_after == triggers_before
    assert {state for _table, _name, state in triggers_after} == {"O"}
    assert len(triggers_after) >= 9
    assert schema_after == schema_before


def test_rules_hold_again_right_after_seeding(fresh_db):
    with fresh_db.connect() as conn:
        seed_shop(conn, **SIZES, seed=5, now=NOW)
        last = {
            t: conn.execute(f"SELECT max(id) FROM shop.{t}").fetchone()[0]
            for t in ("customers", "orders", "stock_movements")
        }
        product_id, stock, price = conn.execute(
            "SELECT id, stock, price_cents FROM shop.products WHERE stock >= 2 ORDER BY id LIMIT 1"
        ).fetchone()

        # A normal order, as the apps place it: the identity sequences are past the seed.
        customer_id = conn.execute(
            "INSERT INTO shop.customers (email, name) VALUES ('after.seed@example.com', 'After')"
            " RETURNING id"
        ).fetchone()[0]
        order_id = conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer_id]
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity, unit_price_cents)"
            " VALUES (%s, %s, 2, %s)",
            [order_id, product_id, price],
        )
        conn.commit()
        assert customer_id == last["customers"] + 1
        assert order_id == last["orders"] + 1
        # The triggers did their work: sale movement, stock taken, total added.
        sale = conn.execute(
            "SELECT id, delta, reason, actor FROM shop.stock_movements WHERE order_id = %s",
            [order_id],
        ).fetchall()
        assert [(d, r) for _id, d, r, _a in sale] == [(-2, "sale")]
        assert sale[0][0] == last["stock_movements"] + 1
        assert conn.execute(
            "SELECT stock FROM shop.products WHERE id = %s", [product_id]
        ).fetchone()[0] == stock - 2
        assert conn.execute(
            "SELECT total_cents FROM shop.orders WHERE id = %s", [order_id]
        ).fetchone()[0] == 2 * price

        # ...and they refuse again what they refused before the seed.
        with pytest.raises(psycopg.errors.CheckViolation) as stock_write:
            conn.execute("UPDATE shop.products SET stock = stock + 1 WHERE id = %s", [product_id])
        conn.rollback()
        assert stock_write.value.sqlstate == SQLSTATE
        assert stock_write.value.diag.message_primary == "stock_is_ledger_projection"
        with pytest.raises(psycopg.errors.CheckViolation) as ledger_write:
            conn.execute("DELETE FROM shop.stock_movements WHERE id = 1")
        conn.rollback()
        assert ledger_write.value.diag.message_primary == "ledger_is_append_only"
        # The foreign keys it dropped for the load are back and enforced.
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO shop.orders (customer_id) VALUES (%s)", [last["customers"] + 1000]
            )
        conn.rollback()

        # Cancelling returns the stock once, through the trigger.
        conn.execute(
            "UPDATE shop.orders SET status = 'cancelled' WHERE id = %s AND status = 'placed'",
            [order_id],
        )
        conn.commit()
        # The new order is by the owner (not 'seed'), placed now (after the seeded window).
        ledger_rules = [rule for rule in VIOLATIONS if "actor" not in rule and "now" not in rule]
        found = violations(conn)
    assert {rule: found[rule] for rule in ledger_rules} == dict.fromkeys(ledger_rules, 0)
    assert len(ledger_rules) >= 6


def test_same_seed_gives_the_same_rows(fresh_db, pg):
    other = pg.clone(f"{pg.prefix}{secrets.token_hex(4)}", pg.template)
    third = pg.clone(f"{pg.prefix}{secrets.token_hex(4)}", pg.template)
    try:
        digests = []
        for database, seed in ((fresh_db, 7), (other, 7), (third, 8)):
            with database.connect() as conn:
                seed_shop(conn, **SIZES, seed=seed, now=NOW)
                digests.append(table_digests(conn))
    finally:
        pg.drop(other.name)
        pg.drop(third.name)
    assert digests[0] == digests[1]
    assert digests[0]["customers"][0] == 60
    differing = {t for t in SHOP_TABLES if digests[0][t][1] != digests[2][t][1]}
    assert differing == set(SHOP_TABLES)


def test_a_non_empty_shop_is_refused_unless_append(fresh_db):
    with fresh_db.connect() as conn:
        first = seed_shop(conn, **SIZES, seed=1, now=NOW)
        before = table_digests(conn)
        conn.commit()
        with pytest.raises(MergepointError, match="already has data.*--append"):
            seed_shop(conn, **SIZES, seed=2, now=NOW)
        assert table_digests(conn) == before
        conn.commit()

        second = seed_shop(conn, customers=10, products=5, orders=40, seed=2, append=True, now=NOW)
        counts = row_counts(conn)
        found = violations(conn)
        # A batch's history overlaps the earlier one's: ids follow time only within a batch.
        backwards = conn.execute(
            "SELECT count(*) FROM (SELECT id, created_at < lag(created_at) OVER (ORDER BY id) AS b"
            " FROM shop.stock_movements WHERE id > %s) m WHERE b",
            [first.stock_movements],
        ).fetchone()[0]
        # The batch is self-contained: its orders use only its own customers and products.
        crossing = conn.execute(
            "SELECT count(*) FROM shop.orders o JOIN shop.order_lines l ON l.order_id = o.id"
            " WHERE (o.id > 300) <> (l.product_id > 25) OR (o.id > 300) <> (o.customer_id > 60)"
        ).fetchone()[0]
    assert counts["customers"] == 70
    assert counts["products"] == 30
    assert counts["orders"] == 340
    assert counts["stock_movements"] == first.stock_movements + second.stock_movements
    assert crossing == 0
    assert backwards == 0
    assert found == dict.fromkeys(VIOLATIONS, 0) | {"movement ids follow their created_at": 1}


def test_a_failed_seed_leaves_nothing_behind(fresh_db):
    with fresh_db.connect() as conn:
        conn.execute(
            "INSERT INTO shop.customers (email, name) VALUES ('first@example.com', 'First')"
        )
        conn.commit()
        # Take the email the seed will give its first customer (id 2): the unique index,
        # rebuilt at the end of the load, refuses the whole seed.
        plan = Plan(customers=1, products=0, orders=0, seed=3, now=int(NOW.timestamp()),
                    first_customer_id=2)
        text, _rows = next(customer_chunks(plan))
        email = text.split("\t")[1]
        conn.execute("UPDATE shop.customers SET email = upper(%s)", [email])
        conn.commit()
        triggers_before = conn.execute(TRIGGER_STATES).fetchall()
        schema_before = conn.execute(SCHEMA_OBJECTS).fetchall()
        conn.commit()

        with pytest.raises(MergepointError, match="duplicate.*uq_customers_email_lower"):
            seed_shop(conn, **SIZES, seed=3, append=True, now=NOW)

        counts = row_counts(conn)
        assert counts == {"customers": 1, "products": 0, "orders": 0, "order_lines": 0,
                          "stock_movements": 0}
        assert conn.execute(TRIGGER_STATES).fetchall() == triggers_before
        assert conn.execute(SCHEMA_OBJECTS).fetchall() == schema_before
        next_id = conn.execute(
            "INSERT INTO shop.customers (email, name) VALUES ('next@example.com', 'Next')"
            " RETURNING id"
        ).fetchone()[0]
        conn.rollback()
    assert next_id == 2


def test_a_busy_shop_fails_cleanly_instead_of_waiting(fresh_db):
    reader = fresh_db.connect("reporting")
    try:
        reader.execute("SELECT count(*) FROM shop.orders")  # holds a lock until it ends
        with fresh_db.connect() as conn:
            with pytest.raises(MergepointError, match="in use by another session"):
                seed_shop(conn, **SIZES, seed=1, now=NOW, lock_timeout="200ms")
            reader.rollback()
            assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == 0
            assert {s for _t, _n, s in conn.execute(TRIGGER_STATES).fetchall()} == {"O"}
    finally:
        reader.close()


@pytest.mark.parametrize("role", ["storefront", "backoffice", "reporting"])
def test_only_the_owner_may_seed(fresh_db, role):
    says = "seeding needs the owner's connection.*permission denied"
    with fresh_db.connect(role) as conn, pytest.raises(MergepointError, match=says) as refused:
        seed_shop(conn, **SIZES, now=NOW)
    assert "\n" not in str(refused.value)
    with fresh_db.connect() as owner:
        assert row_counts(owner) == dict.fromkeys(SHOP_TABLES, 0)


@pytest.mark.parametrize(
    "sizes",
    [
        {"customers": 0, "products": 5, "orders": 10},
        {"customers": -1, "products": 0, "orders": 0},
        {"customers": 5, "products": 5, "orders": 10_000_001},
    ],
)
def test_impossible_sizes_are_refused(session_db, sizes):
    # Refused before the connection is used: the session database is not touched.
    with session_db.connect() as conn, pytest.raises(MergepointError) as refused:
        seed_shop(conn, **sizes, now=NOW)
    assert "\n" not in str(refused.value)


def run_cli(database, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schema.cli", "seed", *args],
        env=database.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_seeds_and_reports(fresh_db):
    done = run_cli(fresh_db, "--customers", "30", "--products", "12", "--orders", "80",
                   "--seed", "4")
    assert done.returncode == 0, done.stderr
    assert "seeded 30 customers, 12 products, 80 orders" in done.stdout
    with fresh_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == 80
        assert violations(conn)["stock is the sum of the product's movements, never negative"] == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--orders", "-5"], "Invalid value for '--orders': -5 is not in the range"),
        (["--customers", "many"], "'many' is not a valid integer"),
        (["--orders", "10", "--products", "0"], "orders need customers and products"),
        (["--colour", "red"], "No such option '--colour' (see: mergepoint seed --help)"),
    ],
)
def test_cli_usage_errors_are_one_line_and_exit_2(fresh_db, args, says):
    done = run_cli(fresh_db, *args)
    assert done.returncode == 2
    one_line_error(done.stderr, says)


def test_cli_refuses_a_seeded_shop_in_one_line(fresh_db):
    with fresh_db.connect() as conn:
        seed_shop(conn, customers=5, products=5, orders=5, now=NOW)
    done = run_cli(fresh_db, "--orders", "5")
    assert done.returncode == 1
    one_line_error(done.stderr, "already has data")


BULK_LOADS = "SELECT payload, actor FROM events.outbox WHERE topic = 'shop.bulk_loaded'"


def test_a_seed_announces_its_bulk_load_in_its_own_transaction(fresh_db):
    """Its rows go in without their events (triggers off): one shop.bulk_loaded says so,
    committed with them, so consumers deriving state from order events rebuild it."""
    with fresh_db.connect() as conn:
        seed_shop(conn, **SIZES, seed=1, now=NOW)
        assert conn.execute(BULK_LOADS).fetchall() == [
            ({"customers": 60, "products": 25, "orders": 300}, "seed")
        ]
        assert conn.execute("SELECT count(*) FROM events.outbox").fetchone() == (1,)
        conn.commit()
        with pytest.raises(MergepointError, match="already has data"):
            seed_shop(conn, **SIZES, seed=2, now=NOW)
        conn.rollback()
        assert len(conn.execute(BULK_LOADS).fetchall()) == 1  # a refused seed says nothing


def test_a_seed_below_the_bulk_load_topic_still_seeds(fresh_db):
    migrations.downgrade(fresh_db.owner_url, "0006")
    with fresh_db.connect() as conn:
        report = seed_shop(conn, customers=5, products=3, orders=10, seed=1, now=NOW)
        assert report.orders == 10
        assert conn.execute("SELECT count(*) FROM events.outbox").fetchone() == (0,)
