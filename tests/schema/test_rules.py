"""Every constraint and trigger rule refuses what it should, and names itself."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from schema.rules import parse_detail
from tests.concurrency import race


def raises_rule(rule: str):
    return pytest.raises(errors.CheckViolation, match=f"^{rule}")


def constraint_of(excinfo) -> str:
    return excinfo.value.diag.constraint_name



def movements(shop, order_id: int, reason: str) -> list[tuple[int, int]]:
    """(product_id, delta) of an order's movements with ``reason``, by product."""
    return [(pid, delta) for pid, delta, _actor in shop.order_movements(order_id, reason)]


def test_email_is_unique_case_insensitively(shop):
    shop.customer("Ada@Example.com")
    with pytest.raises(errors.UniqueViolation) as exc:
        shop.customer("ada@EXAMPLE.COM")
    assert constraint_of(exc) == "uq_customers_email_lower"


@pytest.mark.parametrize(
    ("sql", "params", "constraint"),
    [
        (
            "INSERT INTO shop.customers (email, name) VALUES (%s, 'x')",
            ["not-an-email"],
            "ck_customers_email_format",
        ),
        (
            "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, 'x', -1)",
            ["NEG-1"],
            "ck_products_price_cents_non_negative",
        ),
        (
            "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, 'x', 1)",
            ["lower case"],
            "ck_products_sku_format",
        ),
        (
            "INSERT INTO shop.stock_movements (product_id, delta, reason) VALUES (%s, 0, 'adjust')",
            None,
            "ck_stock_movements_delta_non_zero",
        ),
        (
            "INSERT INTO shop.stock_movements (product_id, delta, reason) VALUES (%s, 5, 'gift')",
            None,
            "ck_stock_movements_reason",
        ),
        (
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " VALUES (%s, -5, 'restock')",
            None,
            "ck_stock_movements_delta_sign",
        ),
    ],
)
def test_check_constraints_refuse_and_name_themselves(shop, sql, params, constraint):
    pid = shop.product("OK-1")
    with pytest.raises(errors.CheckViolation) as exc:
        shop.conn.execute(sql, params or [pid])
    assert constraint_of(exc) == constraint


def test_status_set_quantity_and_unique_sku(shop):
    shop.product("A-1", stock=5)
    cid = shop.customer()
    with pytest.raises(errors.UniqueViolation) as exc:
        shop.product("A-1")
    assert constraint_of(exc) == "uq_products_sku"
    with pytest.raises(errors.CheckViolation) as exc:
        shop.conn.execute(
            "INSERT INTO shop.orders (customer_id, status) VALUES (%s, 'lost')", [cid]
        )
    assert constraint_of(exc) == "ck_orders_status"
    other = shop.product("B-1", stock=5)
    with pytest.raises(errors.CheckViolation) as exc:
        shop.order({other: 0}, customer=cid)
    assert constraint_of(exc) == "ck_order_lines_quantity_positive"


def test_idempotency_key_is_unique_per_customer(shop):
    ada, bob = shop.customer("ada@example.com"), shop.customer("bob@example.com")
    insert = (
        "INSERT INTO shop.orders (customer_id, idempotency_key, request_hash) VALUES (%s, %s, 'h')"
    )
    # Orders without lines never commit (order_has_no_lines): all of it in one transaction.
    with shop.conn.transaction(force_rollback=True):
        shop.conn.execute(insert, [ada, "k-1"])
        shop.conn.execute(insert, [bob, "k-1"])  # another customer may use the same key
        with pytest.raises(errors.UniqueViolation) as exc, shop.conn.transaction():
            shop.conn.execute(insert, [ada, "k-1"])
        assert constraint_of(exc) == "uq_orders_customer_id_idempotency_key"
        with pytest.raises(errors.CheckViolation) as exc, shop.conn.transaction():
            shop.conn.execute(
                "INSERT INTO shop.orders (customer_id, idempotency_key) VALUES (%s, 'k-2')", [ada]
            )
        assert constraint_of(exc) == "ck_orders_idempotency_key_has_hash"


def test_stock_is_the_ledgers_projection(shop):
    pid = shop.product("A-1", stock=7)
    shop.conn.execute(
        "INSERT INTO shop.stock_movements (product_id, delta, reason) VALUES (%s, -2, 'adjust')",
        [pid],
    )
    assert shop.stock(pid) == 5 == shop.ledger_sum(pid)
    with raises_rule("stock_is_ledger_projection"):
        shop.conn.execute("UPDATE shop.products SET stock = 100 WHERE id = %s", [pid])
    with raises_rule("stock_is_ledger_projection"):
        shop.conn.execute(
            "INSERT INTO shop.products (sku, name, price_cents, stock) VALUES ('B-1', 'b', 1, 3)"
        )
    # Setting the trigger's flag by hand does not open the door: only a movement may.
    with shop.conn.transaction(), raises_rule("stock_is_ledger_projection"):
        shop.conn.execute("SELECT set_config('mergepoint.applying_movement', 'on', true)")
        shop.conn.execute("UPDATE shop.products SET stock = 100 WHERE id = %s", [pid])
    assert shop.stock(pid) == 5


def test_a_line_sells_and_adds_to_the_total(shop):
    apple, pear = (
        shop.product("APPLE", price=120, stock=10),
        shop.product("PEAR", price=80, stock=4),
    )
    oid = shop.order({apple: 3, pear: 4}, customer=shop.customer())
    assert (shop.stock(apple), shop.stock(pear)) == (7, 0)
    assert movements(shop, oid, "sale") == [(apple, -3), (pear, -4)]
    total = shop.conn.execute("SELECT total_cents FROM shop.orders WHERE id = %s", [oid]).fetchone()
    assert total == (3 * 120 + 4 * 80,)


def test_a_line_beyond_the_stock_fails_naming_the_product_and_leaves_nothing(shop):
    pid = shop.product("A-1", stock=2)
    cid = shop.customer()
    with raises_rule("insufficient_stock") as exc:
        shop.order({pid: 3}, customer=cid)
    assert exc.value.diag.constraint_name == "ck_products_stock_non_negative"
    assert parse_detail(exc.value.diag.message_detail) == {
        "product_id": str(pid),
        "available": "2",
        "requested": "3",
    }
    counts = shop.conn.execute(
        "SELECT (SELECT count(*) FROM shop.orders), (SELECT count(*) FROM shop.order_lines)"
    ).fetchone()
    assert counts == (0, 0)
    assert shop.stock(pid) == 2 == shop.ledger_sum(pid)


def test_fifty_racing_one_unit_orders_on_ten_units_sell_exactly_ten(fresh_db, shop):
    pid = shop.product("LAST-10", stock=10)
    cid = shop.customer()

    def buy(_: int) -> int:
        with fresh_db.connect(autocommit=True) as conn:
            return shop.order({pid: 1}, customer=cid, conn=conn)

    results = race(50, buy)
    sold = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, errors.CheckViolation)]
    assert len(sold) == 10 and len(refused) == 40, results
    assert all(str(e.diag.message_primary) == "insufficient_stock" for e in refused)
    assert shop.stock(pid) == 0 == shop.ledger_sum(pid)
    assert shop.conn.execute("SELECT count(*) FROM shop.orders").fetchone() == (10,)


def test_cancel_returns_stock_once_and_final_orders_refuse_updates(shop):
    pid = shop.product("A-1", stock=5)
    oid = shop.order({pid: 3}, customer=shop.customer())
    shop.conn.execute("UPDATE shop.orders SET status = 'cancelled' WHERE id = %s", [oid])
    assert shop.stock(pid) == 5 and movements(shop, oid, "cancel") == [(pid, 3)]
    with raises_rule("order_is_final"):
        shop.conn.execute("UPDATE shop.orders SET status = 'cancelled' WHERE id = %s", [oid])
    # The conditional update the apps use matches nothing instead.
    cur = shop.conn.execute(
        "UPDATE shop.orders SET status = 'cancelled'"
        " WHERE id = %s AND status IN ('placed', 'paid')",
        [oid],
    )
    assert cur.rowcount == 0
    assert shop.stock(pid) == 5 == shop.ledger_sum(pid)
    assert movements(shop, oid, "cancel") == [(pid, 3)]


def test_a_shipped_order_cannot_be_cancelled(shop):
    pid = shop.product("A-1", stock=5)
    oid = shop.order({pid: 2}, customer=shop.customer())
    shop.conn.execute("UPDATE shop.orders SET status = 'paid' WHERE id = %s", [oid])
    shop.conn.execute("UPDATE shop.orders SET status = 'shipped' WHERE id = %s", [oid])
    with raises_rule("order_is_final"):
        shop.conn.execute("UPDATE shop.orders SET status = 'cancelled' WHERE id = %s", [oid])
    with raises_rule("order_is_final"):  # even to the same status
        shop.conn.execute("UPDATE shop.orders SET status = 'shipped' WHERE id = %s", [oid])
    assert shop.stock(pid) == 3 and movements(shop, oid, "cancel") == []


def test_racing_cancels_return_stock_once(fresh_db, shop):
    pid = shop.product("A-1", stock=5)
    oid = shop.order({pid: 4}, customer=shop.customer())

    def cancel(_: int) -> int:
        with fresh_db.connect(autocommit=True) as conn:
            return conn.execute(
                "UPDATE shop.orders SET status = 'cancelled'"
                " WHERE id = %s AND status IN ('placed', 'paid')",
                [oid],
            ).rowcount

    assert sorted(race(8, cancel)) == [0] * 7 + [1]
    assert shop.stock(pid) == 5 == shop.ledger_sum(pid)
    assert movements(shop, oid, "cancel") == [(pid, 4)]


@pytest.mark.parametrize(
    ("start", "target"),
    [("placed", "shipped"), ("paid", "placed")],
)
def test_status_moves_only_forward(shop, start, target):
    oid = shop.order({shop.product("A-1", stock=1): 1}, customer=shop.customer())
    if start == "paid":
        shop.conn.execute("UPDATE shop.orders SET status = 'paid' WHERE id = %s", [oid])
    with raises_rule("invalid_status_transition") as exc:
        shop.conn.execute("UPDATE shop.orders SET status = %s WHERE id = %s", [target, oid])
    assert parse_detail(exc.value.diag.message_detail)["to"] == target


def test_lines_go_only_into_a_placed_order_and_never_change(shop):
    pid, other = shop.product("A-1", stock=5), shop.product("B-1", stock=5)
    oid = shop.order({pid: 1}, customer=shop.customer())
    # Once placed (committed), an order takes no more lines.
    with raises_rule("order_already_placed"):
        shop.conn.execute("INSERT INTO shop.order_lines VALUES (%s, %s, 1, 100)", [oid, other])
    # Within its own transaction, a line goes only into an order that is still placed.
    with shop.conn.transaction(force_rollback=True):
        fresh = shop.conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [shop.customer()]
        ).fetchone()[0]
        shop.conn.execute("UPDATE shop.orders SET status = 'cancelled' WHERE id = %s", [fresh])
        with raises_rule("order_not_open"), shop.conn.transaction():
            shop.conn.execute(
                "INSERT INTO shop.order_lines VALUES (%s, %s, 1, 100)", [fresh, other]
            )
    shop.conn.execute("UPDATE shop.orders SET status = 'paid' WHERE id = %s", [oid])
    with raises_rule("order_lines_are_immutable"):
        shop.conn.execute("UPDATE shop.order_lines SET quantity = 5 WHERE order_id = %s", [oid])
    with raises_rule("order_lines_are_immutable"):
        shop.conn.execute("DELETE FROM shop.order_lines WHERE order_id = %s", [oid])
    assert shop.stock(other) == 5


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE shop.stock_movements SET delta = 100",
        "DELETE FROM shop.stock_movements",
        "TRUNCATE shop.stock_movements",
    ],
)
def test_the_ledger_is_append_only_even_for_the_owner(shop, statement):
    pid = shop.product("A-1", stock=5)
    with raises_rule("ledger_is_append_only"):
        shop.conn.execute(statement)
    assert shop.ledger_sum(pid) == 5 == shop.stock(pid)


def test_only_the_database_writes_sale_and_cancel_movements(shop):
    pid = shop.product("A-1", stock=5)
    oid = shop.order({pid: 1}, customer=shop.customer())
    for reason, delta in (("sale", -1), ("cancel", 1)):
        with raises_rule("ledger_reason_reserved"):
            shop.conn.execute(
                "INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)"
                " VALUES (%s, %s, %s, %s)",
                [pid, delta, reason, oid],
            )
    assert shop.stock(pid) == 4


def test_owner_movements_keep_the_actor_the_transaction_sets(shop):
    """The owner's own writes (seed, bench) name their actor; without one, the role's."""
    pid = shop.product("A-1")
    movement = "INSERT INTO shop.stock_movements (product_id, delta, reason) VALUES (%s, 1, %s)"
    with shop.conn.transaction():
        shop.conn.execute("SELECT set_config('mergepoint.actor', 'seed', true)")
        shop.conn.execute(movement, [pid, "restock"])
    shop.conn.execute(movement, [pid, "adjust"])
    actors = shop.conn.execute(
        "SELECT actor FROM shop.stock_movements WHERE product_id = %s ORDER BY id", [pid]
    ).fetchall()
    owner = shop.conn.execute("SELECT session_user").fetchone()[0]
    assert actors == [("seed",), (owner,)]


def test_updated_at_is_maintained(shop):
    pid = shop.product("A-1")
    before = shop.conn.execute(
        "SELECT updated_at FROM shop.products WHERE id = %s", [pid]
    ).fetchone()
    shop.conn.execute("UPDATE shop.products SET name = 'Renamed' WHERE id = %s", [pid])
    after = shop.conn.execute(
        "SELECT updated_at FROM shop.products WHERE id = %s", [pid]
    ).fetchone()
    assert after[0] > before[0]


def test_foreign_keys_into_the_ledger_restrict_deletes(shop):
    pid = shop.product("A-1", stock=1)
    with pytest.raises(errors.RestrictViolation) as exc:
        shop.conn.execute("DELETE FROM shop.products WHERE id = %s", [pid])
    assert constraint_of(exc) == "fk_stock_movements_product_id_products"


def test_cross_table_functions_are_security_definer_with_a_fixed_search_path(owner):
    rows = owner.execute(
        "SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'shop' ORDER BY 1"
    ).fetchall()
    definers = {name for name, secdef, _ in rows if secdef}
    assert definers == {
        "order_lines_sell",
        "orders_return_stock",
        "stock_movements_apply",
        # 0004: the rules that read who writes (shop.app_roles) or stamp what they write
        "orders_guard",
        "order_lines_price",
        "stock_movements_stamp",
        "writer_app",
        "movement_actor",
    }
    assert all(config == ["search_path=pg_catalog, pg_temp"] for _, _, config in rows)


def test_errors_reach_clients_as_integrity_errors(shop):
    """Drivers map SQLSTATE 23514 to IntegrityError, so apps can catch one class."""
    pid = shop.product("A-1")
    with pytest.raises(psycopg.IntegrityError):
        shop.conn.execute("UPDATE shop.products SET stock = 1 WHERE id = %s", [pid])
