"""Consumer contracts: the real apps' descriptions, checked live and before a migration."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from click.testing import CliRunner

from schema import consumers, migrations
from schema.cli import main
from schema.paths import ROOT


@pytest.fixture(scope="module")
def descriptions():
    found, failures = consumers.describe_all()
    assert failures == []
    return found


def test_both_apps_publish_a_description_through_entry_points(descriptions):
    by_name = {d["name"]: d for d in descriptions}
    assert set(by_name) == {"storefront", "backoffice"}
    assert by_name["storefront"]["role"] == "storefront"
    assert by_name["backoffice"]["role"] == "backoffice"
    assert "shop.orders" in by_name["storefront"]["writes"]
    assert "insufficient_stock" in by_name["storefront"]["rules"]
    for d in descriptions:  # derived from the models: every column has a type
        for table, columns in d["reads"].items():
            assert table.startswith("shop."), table
            assert all(c["type"] for c in columns.values())


def test_a_migrated_database_satisfies_every_consumer(fresh_db, descriptions):
    assert consumers.check(fresh_db.owner_url, fresh_db.prefix, descriptions) == []


def test_breaks_name_consumer_table_column_and_problem(fresh_db, descriptions):
    with fresh_db.connect(autocommit=True) as conn:
        # (a column no view, trigger or rule depends on: PostgreSQL refuses the others)
        conn.execute("ALTER TABLE shop.orders ALTER COLUMN request_hash TYPE varchar(64)")
        conn.execute("ALTER TABLE shop.orders ALTER COLUMN idempotency_key SET NOT NULL")
        conn.execute("ALTER TABLE shop.customers DROP CONSTRAINT ck_customers_email_format")
    breaks = {str(b) for b in consumers.check(fresh_db.owner_url, fresh_db.prefix, descriptions)}
    assert (
        "storefront: shop.orders.request_hash: type is character varying(64),"
        " storefront expects text"
        in breaks
    )
    assert (
        "backoffice: shop.orders.request_hash: type is character varying(64),"
        " backoffice expects text"
        in breaks
    )
    assert (
        "storefront: shop.orders.idempotency_key: nullable is False, storefront expects True"
        in breaks
    )


def cli(database, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env={**database.env(), **(env or {})})


def test_check_fails_naming_the_role_and_privilege_of_a_revoked_grant(fresh_db):
    role = f"{fresh_db.prefix}storefront"
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute(f'REVOKE UPDATE (status) ON shop.orders FROM "{role}"')
    result = cli(fresh_db, "check")
    assert result.exit_code == 1
    assert "schema: no drift" in result.output  # the schema itself is fine...
    assert "consumer breaks" in result.output  # ...an app is not
    assert f"storefront: shop.orders.status: role {role} lacks UPDATE" in result.output


def test_check_names_a_function_an_app_calls_that_is_gone_or_not_granted(fresh_db):
    prefix = fresh_db.prefix
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute(
            f'REVOKE EXECUTE ON FUNCTION identity.staff_session(text) FROM "{prefix}storefront"'
        )
        conn.execute("DROP FUNCTION identity.end_staff_session(text)")
    result = cli(fresh_db, "check")
    assert result.exit_code == 1
    assert (
        f"storefront: identity.staff_session(text): role {prefix}storefront lacks EXECUTE"
        in result.output
    )
    assert "backoffice: identity.end_staff_session(text): missing function" in result.output


def test_check_separates_drift_from_consumer_breaks(fresh_db):
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("ALTER TABLE shop.orders DROP COLUMN updated_at")
    result = cli(fresh_db, "check")
    assert result.exit_code == 1
    drift, _, breaks = result.output.partition("consumer breaks")
    assert "add column: shop.orders.updated_at" in drift
    assert "storefront: shop.orders.updated_at: missing column" in breaks
    assert "backoffice: shop.orders.updated_at: missing column" in breaks


@pytest.fixture
def proposed_revision(tmp_path, monkeypatch):
    """A copy of alembic/ with one more revision that drops a column both apps read."""
    # (orders.request_hash: no reporting view depends on it, so the DROP itself succeeds)
    directory = tmp_path / "alembic"
    shutil.copytree(ROOT / "alembic", directory)
    head = migrations.head()
    (directory / "versions" / "9999_drop_request_hash.py").write_text(
        textwrap.dedent(
            f'''
            """drop orders.request_hash"""
            from alembic import op

            revision = "9999"
            down_revision = "{head}"
            branch_labels = None
            depends_on = None


            def upgrade():
                op.drop_constraint("ck_orders_idempotency_key_has_hash", "orders", schema="shop")
                op.drop_column("orders", "request_hash", schema="shop")


            def downgrade():
                raise NotImplementedError
            '''
        )
    )
    return {"MERGEPOINT_ALEMBIC_DIR": str(directory)}


def test_migrate_refuses_a_revision_that_breaks_an_app_naming_it(fresh_db, proposed_revision):
    result = cli(fresh_db, "migrate", env=proposed_revision)
    assert result.exit_code == 1
    assert "storefront: shop.orders.request_hash: missing column" in result.output
    assert "backoffice: shop.orders.request_hash: missing column" in result.output
    assert "use --force" in result.output
    assert migrations.current(fresh_db.owner_url) == migrations.head()  # nothing applied
    with fresh_db.connect() as conn:  # and no scratch database left behind
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'mergepoint_vet_%'"
        ).fetchone()
    assert left == (0,)


def test_migrate_force_applies_it_and_check_then_fails(fresh_db, proposed_revision):
    result = cli(fresh_db, "migrate", "--force", env=proposed_revision)
    assert result.exit_code == 0, result.output
    with fresh_db.connect() as conn:
        version = conn.execute("SELECT version_num FROM shop.alembic_version").fetchone()
    assert version == ("9999",)
    assert cli(fresh_db, "check").exit_code == 1
