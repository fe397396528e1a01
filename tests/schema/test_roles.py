"""Each role can do what docs/design.md says and is refused the rest; reconciliation is exact."""

from __future__ import annotations

import dataclasses

import pytest
from psycopg import errors

from schema import roles
from tests.concurrency import race


@pytest.fixture
def data(shop):
    pid = shop.product("A-1", price=100, stock=10)
    cid = shop.customer()
    oid = shop.order({pid: 1}, customer=cid)
    return {"product": pid, "customer": cid, "order": oid}


def test_storefront_places_and_cancels_orders_through_its_grants(fresh_db, data):
    with fresh_db.connect("storefront") as conn:
        cid = conn.execute(
            "INSERT INTO shop.customers (email, name)"
            " VALUES ('new@example.com', 'New') RETURNING id"
        ).fetchone()[0]
        oid = conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [cid]
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, 2)",
            [oid, data["product"]],
        )
        conn.execute("UPDATE shop.orders SET status = 'cancelled' WHERE id = %s", [oid])
        stock = conn.execute(
            "SELECT stock FROM shop.products WHERE id = %s", [data["product"]]
        ).fetchone()
    assert stock == (9,)  # 10 - 1 (fixture order); this order's 2 came back


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("storefront", "DELETE FROM shop.customers"),
        ("storefront", "UPDATE shop.products SET price_cents = 1"),
        ("storefront", "UPDATE shop.products SET name = 'x'"),
        (
            "storefront",
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " VALUES ({product}, 5, 'restock')",
        ),
        ("storefront", "SELECT * FROM shop.stock_movements"),
        ("storefront", "INSERT INTO shop.orders (customer_id, total_cents) VALUES ({customer}, 0)"),
        ("storefront", "UPDATE shop.orders SET total_cents = 0"),
        ("storefront", "SELECT * FROM backoffice.django_session"),
        ("backoffice", "UPDATE shop.products SET stock = 0"),
        ("backoffice", "DELETE FROM shop.products"),
        ("backoffice", "UPDATE shop.customers SET name = 'x'"),
        ("backoffice", "INSERT INTO shop.orders (customer_id) VALUES ({customer})"),
        ("backoffice", "DELETE FROM shop.orders"),
        ("backoffice", "SELECT * FROM storefront.api_tokens"),
        (
            "reporting",
            "SET TRANSACTION READ WRITE; INSERT INTO shop.customers (email, name)"
            " VALUES ('r@example.com', 'r')",
        ),
        ("storefront", "UPDATE shop.stock_movements SET delta = 1"),
        ("backoffice", "UPDATE shop.stock_movements SET delta = 1"),
        ("backoffice", "DELETE FROM shop.stock_movements"),
        ("reporting", "SET TRANSACTION READ WRITE; DELETE FROM shop.stock_movements"),
        ("backoffice", "TRUNCATE shop.stock_movements"),
    ],
)
def test_roles_are_refused_what_they_may_not_do(fresh_db, data, role, statement):
    with fresh_db.connect(role) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            for part in statement.format(**data).split("; "):
                conn.execute(part)


def test_reporting_is_read_only_by_default(fresh_db, data):
    with fresh_db.connect("reporting") as conn:
        assert conn.execute("SELECT count(*) FROM shop.orders").fetchone() == (1,)
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO shop.customers (email, name) VALUES ('x@example.com', 'x')")


def test_backoffice_edits_products_and_restocks(fresh_db, data):
    with fresh_db.connect("backoffice") as conn:
        conn.execute(
            "INSERT INTO shop.products (sku, name, price_cents) VALUES ('NEW-1', 'New', 5)"
        )
        conn.execute("UPDATE products SET price_cents = 7 WHERE sku = 'NEW-1'")  # search_path
        conn.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " SELECT id, 4, 'restock' FROM shop.products WHERE sku = 'NEW-1'"
        )
        conn.execute("UPDATE shop.orders SET status = 'paid' WHERE id = %s", [data["order"]])
        row = conn.execute(
            "SELECT price_cents, stock FROM shop.products WHERE sku = 'NEW-1'"
        ).fetchone()
    assert row == (7, 4)


def test_namespaces_belong_to_their_app_roles(fresh_db, pg):
    with fresh_db.connect() as conn:
        owners = dict(
            conn.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace"
                " WHERE nspname IN ('shop', 'reporting', 'storefront', 'backoffice')"
            ).fetchall()
        )
    assert owners == {
        "shop": pg.owner,
        "reporting": pg.owner,
        "storefront": f"{pg.prefix}storefront",
        "backoffice": f"{pg.prefix}backoffice",
    }


def test_reconcile_is_idempotent(fresh_db, pg):
    before = roles.privileges(fresh_db.owner_url, pg.prefix)
    report = roles.reconcile(fresh_db.owner_url, pg.prefix)
    assert report.changes == []
    assert roles.privileges(fresh_db.owner_url, pg.prefix) == before
    assert before == roles.desired_privileges(roles.ROLES, pg.prefix)


def test_a_privilege_removed_from_the_code_is_revoked(fresh_db, pg):
    storefront = roles.ROLES[0]
    assert storefront.name == "storefront"
    fewer = dataclasses.replace(
        storefront, grants=tuple(g for g in storefront.grants if g.privilege != "REFERENCES")
    )
    specs = (fewer, *roles.ROLES[1:])
    report = roles.reconcile(fresh_db.owner_url, pg.prefix, specs)
    assert report.changes == [
        f'REVOKE REFERENCES ("id") ON TABLE "shop"."customers" FROM "{pg.prefix}storefront"'
    ]
    held = roles.privileges(fresh_db.owner_url, pg.prefix)
    assert (f"{pg.prefix}storefront", "REFERENCES", "shop.customers", "id") not in held
    # And a grant made by hand outside roles.py is taken away again.
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute(f'GRANT DELETE ON shop.customers TO "{pg.prefix}reporting"')
    report = roles.reconcile(fresh_db.owner_url, pg.prefix)
    assert (
        f'REVOKE DELETE ON TABLE "shop"."customers" FROM "{pg.prefix}reporting"' in report.changes
    )
    assert roles.privileges(fresh_db.owner_url, pg.prefix) == roles.desired_privileges(
        roles.ROLES, pg.prefix
    )


def test_concurrent_reconciles_on_two_databases_both_succeed(pg):
    first, second = (pg.clone(f"{pg.prefix}rc{i}", pg.template) for i in range(2))
    try:
        results = race(2, lambda i: roles.reconcile((first, second)[i].owner_url, pg.prefix))
        assert all(isinstance(r, roles.Report) for r in results), results
    finally:
        pg.drop(first.name)
        pg.drop(second.name)
