"""database rules as triggers: stock as the ledger's projection, sales, cancels, status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:00:00

Every rule raises SQLSTATE 23514 with the rule's name as its message (see schema/rules.py).
Functions that write across tables are SECURITY DEFINER with a fixed search_path, so the
app roles need no privilege on what they write; none is callable directly (EXECUTE is
revoked from PUBLIC, and trigger functions cannot be called outside a trigger anyway).
Each costs a few index lookups per row, whatever the size of the history.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

FUNCTIONS = {
    # products: stock moves only through the ledger; updated_at maintained.
    "products_guard": """
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.stock <> 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'stock_is_ledger_projection',
                DETAIL = format('sku=%s stock=%s', NEW.sku, NEW.stock),
                HINT = 'a new product starts with stock 0: insert a restock movement';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.stock IS DISTINCT FROM OLD.stock
       AND NOT (pg_trigger_depth() > 1
                AND current_setting('mergepoint.applying_movement', true) = 'on') THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'stock_is_ledger_projection',
            DETAIL = format('product_id=%s stock=%s new_stock=%s', OLD.id, OLD.stock, NEW.stock),
            HINT = 'change stock by inserting a stock movement (restock or adjust)';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END""",
    # stock_movements: only the database writes sale and cancel movements.
    "stock_movements_guard_reason": """
BEGIN
    IF NEW.reason IN ('sale', 'cancel') AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'ledger_reason_reserved',
            DETAIL = format('reason=%s product_id=%s', NEW.reason, NEW.product_id),
            HINT = 'sale and cancel movements follow order lines and cancellations';
    END IF;
    RETURN NEW;
END""",
    # stock_movements: each movement applies its delta, or fails with insufficient_stock.
    "stock_movements_apply": """
DECLARE
    available integer;
BEGIN
    PERFORM set_config('mergepoint.applying_movement', 'on', true);
    UPDATE shop.products SET stock = stock + NEW.delta
     WHERE id = NEW.product_id AND stock + NEW.delta >= 0;
    IF NOT FOUND THEN
        SELECT stock INTO available FROM shop.products WHERE id = NEW.product_id;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'insufficient_stock',
                CONSTRAINT = 'ck_products_stock_non_negative',
                SCHEMA = 'shop', TABLE = 'products',
                DETAIL = format('product_id=%s available=%s requested=%s',
                                NEW.product_id, available, -NEW.delta);
        END IF;
        -- no such product: the foreign key reports it
    END IF;
    PERFORM set_config('mergepoint.applying_movement', '', true);
    RETURN NULL;
END""",
    "stock_movements_append_only": """
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation',
        MESSAGE = 'ledger_is_append_only',
        DETAIL = format('operation=%s', TG_OP),
        HINT = 'correct the ledger with a new adjust movement';
END""",
    # order_lines: a line sells its quantity (the sale movement takes the stock) and
    # adds to its order's total; only into an order that is still placed.
    "order_lines_sell": """
BEGIN
    UPDATE shop.orders
       SET total_cents = total_cents + NEW.quantity::bigint * NEW.unit_price_cents
     WHERE id = NEW.order_id AND status = 'placed';
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM shop.orders WHERE id = NEW.order_id) THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'order_not_open',
                DETAIL = format('order_id=%s', NEW.order_id);
        END IF;
        RETURN NULL;  -- no such order: the foreign key reports it
    END IF;
    INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)
    VALUES (NEW.product_id, -NEW.quantity, 'sale', NEW.order_id);
    RETURN NULL;
END""",
    "order_lines_immutable": """
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation',
        MESSAGE = 'order_lines_are_immutable',
        DETAIL = format('order_id=%s product_id=%s operation=%s',
                        OLD.order_id, OLD.product_id, TG_OP),
        HINT = 'cancel the order instead';
END""",
    # orders: status only forward; final orders refuse any update; updated_at maintained.
    "orders_guard": """
BEGIN
    IF OLD.status IN ('shipped', 'cancelled') THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'order_is_final',
            DETAIL = format('order_id=%s status=%s', OLD.id, OLD.status);
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'placed' AND NEW.status IN ('paid', 'cancelled'))
        OR (OLD.status = 'paid' AND NEW.status IN ('shipped', 'cancelled'))) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'invalid_status_transition',
            DETAIL = format('order_id=%s from=%s to=%s', OLD.id, OLD.status, NEW.status);
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END""",
    # orders: cancelling returns each line's stock, once (a unique index backs "once").
    "orders_return_stock": """
BEGIN
    INSERT INTO shop.stock_movements (product_id, delta, reason, order_id)
    SELECT product_id, quantity, 'cancel', order_id
      FROM shop.order_lines
     WHERE order_id = NEW.id
     ORDER BY product_id;
    RETURN NULL;
END""",
}

CROSS_TABLE = {"stock_movements_apply", "order_lines_sell", "orders_return_stock"}

TRIGGERS = [
    ("products_guard", "BEFORE INSERT OR UPDATE ON shop.products FOR EACH ROW", "products_guard"),
    (
        "stock_movements_guard_reason",
        "BEFORE INSERT ON shop.stock_movements FOR EACH ROW",
        "stock_movements_guard_reason",
    ),
    (
        "stock_movements_apply",
        "AFTER INSERT ON shop.stock_movements FOR EACH ROW",
        "stock_movements_apply",
    ),
    (
        "stock_movements_append_only",
        "BEFORE UPDATE OR DELETE ON shop.stock_movements FOR EACH ROW",
        "stock_movements_append_only",
    ),
    (
        "stock_movements_no_truncate",
        "BEFORE TRUNCATE ON shop.stock_movements FOR EACH STATEMENT",
        "stock_movements_append_only",
    ),
    ("order_lines_sell", "AFTER INSERT ON shop.order_lines FOR EACH ROW", "order_lines_sell"),
    (
        "order_lines_immutable",
        "BEFORE UPDATE OR DELETE ON shop.order_lines FOR EACH ROW",
        "order_lines_immutable",
    ),
    ("orders_guard", "BEFORE UPDATE ON shop.orders FOR EACH ROW", "orders_guard"),
    (
        "orders_return_stock",
        "AFTER UPDATE OF status ON shop.orders FOR EACH ROW"
        " WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled')",
        "orders_return_stock",
    ),
]


def upgrade() -> None:
    for name, body in FUNCTIONS.items():
        options = DEFINER if name in CROSS_TABLE else "SET search_path = pg_catalog, pg_temp"
        op.execute(
            f"CREATE FUNCTION shop.{name}() RETURNS trigger LANGUAGE plpgsql {options} "
            f"AS $fn${body}\n$fn$"
        )
        op.execute(f"REVOKE EXECUTE ON FUNCTION shop.{name}() FROM PUBLIC")
    for trigger, when, function in TRIGGERS:
        op.execute(f"CREATE TRIGGER {trigger} {when} EXECUTE FUNCTION shop.{function}()")


def downgrade() -> None:
    for trigger, when, _function in reversed(TRIGGERS):
        table = when.split(" ON ", 1)[1].split()[0]
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for name in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION shop.{name}()")
