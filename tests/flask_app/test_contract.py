"""The storefront's Table declarations against the live migrated database, and its own
migrations (storefront namespace only)."""

from __future__ import annotations

import sqlalchemy as sa

from apps.flask_app import contract, migrate
from apps.flask_app.db import EXTENSION
from apps.flask_app.tables import CONSTRAINTS, QUEUE_CALLS, RULES, SHOP_TABLES, WRITES

OWN_TABLES = ["alembic_version", "api_tokens", "data_exports", "notifications", "rate_limits"]


def engine(app) -> sa.Engine:
    return app.extensions[EXTENSION]


def test_declarations_match_the_live_database(app):
    with engine(app).connect() as conn:  # as the storefront role: what it can see
        assert contract.drift(conn) == []


def test_drift_in_the_declarations_reads_as_a_diff(app):
    metadata = sa.MetaData(schema="shop")
    orders = sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("total_cents", sa.Integer, nullable=False),  # bigint in the database
        sa.Column("idempotency_key", sa.Text, nullable=False),  # nullable in the database
        sa.Column("discount_cents", sa.Integer),  # no such column
    )
    wishlist = sa.Table("wishlists", metadata, sa.Column("id", sa.BigInteger, primary_key=True))
    with engine(app).connect() as conn:
        assert contract.drift(conn, (orders, wishlist)) == [
            "shop.orders.total_cents: type is bigint, the storefront declares integer",
            "shop.orders.idempotency_key: nullable in the database, the storefront declares"
            " NOT NULL",
            "shop.orders.discount_cents: column missing",
            "shop.wishlists: table missing (or not visible to this role)",
        ]


def test_a_migration_that_breaks_the_storefront_is_caught(app, owner):
    # (price_cents, the obvious choice, is held by a trigger: PostgreSQL refuses to retype it)
    owner.execute("ALTER TABLE shop.orders ALTER COLUMN idempotency_key TYPE varchar(255)")
    owner.execute("ALTER TABLE shop.orders RENAME COLUMN request_hash TO body_hash")
    with engine(app).connect() as conn:
        assert contract.drift(conn) == [
            "shop.orders.idempotency_key: type is character varying,"
            " the storefront declares text",
            "shop.orders.request_hash: column missing",
        ]


def test_the_role_may_do_what_the_storefront_writes(owner, fresh_db):
    role = fresh_db.prefix + "storefront"
    missing = [
        (privilege, table, column)
        for privilege, by_table in WRITES.items()
        for table, columns in by_table.items()
        for column in columns
        if not owner.execute(
            "SELECT has_column_privilege(%s, %s, %s, %s)", [role, table, column, privilege]
        ).fetchone()[0]
    ]
    assert missing == []
    unreadable = [
        f"{t.schema}.{t.name}.{c.name}"
        for t in SHOP_TABLES
        for c in t.columns
        if not owner.execute(
            "SELECT has_column_privilege(%s, %s, %s, 'SELECT')", [role, f"shop.{t.name}", c.name]
        ).fetchone()[0]
    ]
    assert unreadable == []


def test_the_constraints_and_rules_the_storefront_relies_on_exist(owner):
    names = {
        r[0]
        for r in owner.execute(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = 'shop' UNION SELECT indexname FROM pg_indexes"
            " WHERE schemaname = 'shop'"
        )
    }
    wanted = {name for names in CONSTRAINTS.values() for name in names}
    assert wanted - names == set()
    sources = "\n".join(
        r[0]
        for r in owner.execute(
            "SELECT prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'shop'"
        )
    )
    assert [rule for rule in RULES if f"MESSAGE = '{rule}'" not in sources] == []


def test_describe_is_plain_data_derived_from_the_tables():
    description = contract.describe()
    assert description["role"] == "storefront"
    assert description["reads"]["shop.orders"]["total_cents"] == {
        "type": "bigint",
        "nullable": False,
    }
    assert description["reads"]["shop.orders"]["idempotency_key"]["nullable"] is True
    assert description["writes"]["shop.orders"] == {
        "INSERT": ["customer_id", "idempotency_key", "request_hash"],
        "UPDATE": ["status"],
    }
    assert "uq_orders_customer_id_idempotency_key" in description["constraints"]
    assert "insufficient_stock" in description["rules"]
    assert description["calls"] == ["identity.staff_session(text)", *QUEUE_CALLS]


# --- the storefront's own migrations ---------------------------------------------------


def test_the_template_is_at_head_and_alembic_check_is_clean(app):
    runner = app.test_cli_runner()
    current = runner.invoke(args=["db", "current"])
    assert current.exit_code == 0, current.output
    assert current.output.strip() == migrate.head() == "sf0005"
    check = runner.invoke(args=["db", "check"])
    assert check.exit_code == 0, check.output
    assert "matches" in check.output


def test_check_reports_drift_in_the_storefront_namespace(app, as_storefront):
    as_storefront.execute("DROP INDEX storefront.ix_api_tokens_customer_id")
    as_storefront.execute("ALTER TABLE storefront.api_tokens ADD COLUMN note text")
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 1
    assert "add index: storefront.api_tokens.ix_api_tokens_customer_id" in result.output
    assert "remove column: storefront.api_tokens.note" in result.output
    assert "2 difference(s)" in result.output


def test_downgrade_and_upgrade_touch_only_the_storefront_namespace(app, owner, as_storefront):
    def shop_tables():
        return owner.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'shop'").fetchone()[
            0
        ]

    def storefront_tables():
        return sorted(
            r[0]
            for r in as_storefront.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'storefront'"
            )
        )

    before = shop_tables()
    assert storefront_tables() == OWN_TABLES
    runner = app.test_cli_runner()
    down = runner.invoke(args=["db", "downgrade", "base"])
    assert down.exit_code == 0, down.output
    assert storefront_tables() == ["alembic_version"]
    up = runner.invoke(args=["db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert migrate.head() in up.output
    assert storefront_tables() == OWN_TABLES
    assert shop_tables() == before
    assert not owner.execute(
        "SELECT count(*) FROM pg_tables WHERE tablename = 'alembic_version'"
        " AND schemaname NOT IN ('shop', 'storefront')"
    ).fetchone()[0]


def test_tokens_die_with_their_customer(register, owner, as_storefront):
    account = register()
    assert as_storefront.execute("SELECT count(*) FROM storefront.api_tokens").fetchone()[0] == 1
    owner.execute("DELETE FROM shop.customers WHERE id = %s", [account.id])
    assert as_storefront.execute("SELECT count(*) FROM storefront.api_tokens").fetchone()[0] == 0
