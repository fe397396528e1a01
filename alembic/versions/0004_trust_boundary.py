"""trust boundary: rules check who writes, not how deep; prices and actors from the database

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 02:00:00

Assume an app role's credentials are stolen (docs/design.md, "Trust boundary"). The rules of
0002 trusted ``pg_trigger_depth()`` and settings any session may set; here they check the
role instead:

* ``shop.app_roles`` maps each app's login role (prefixed in tests) to its app name; the
  owner reconciles it from schema/roles.py, nobody else may read or write it.
* sale and cancel movements, and changes of ``products.stock``, come only from the
  database's own SECURITY DEFINER functions (``current_user`` is the owner there, never an
  app role, whatever trigger depth the app builds with triggers of its own);
* an order line's ``unit_price_cents`` is the product's current price, read under the
  product's row lock (a supplied value is overwritten): nobody sells below the price and
  a concurrent price change is never half-applied;
* the storefront may move an order only to ``cancelled`` (staff take it to paid, shipped);
* a movement's actor is ``<app>:<detail>``, the app from the writing role (session_user,
  which no app can change), the detail from ``mergepoint.actor`` (a setting naming another
  app is kept only as detail); owner sessions keep the actor they set (seed, bench).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
INVOKER = "SET search_path = pg_catalog, pg_temp"

# Helpers the trigger functions call (owner-only: EXECUTE revoked from PUBLIC).
HELPERS = {
    "writer_app": (
        "RETURNS text LANGUAGE sql STABLE",
        "SELECT app FROM shop.app_roles WHERE role_name = session_user",
    ),
    "movement_actor": (
        "RETURNS text LANGUAGE plpgsql STABLE",
        """
DECLARE
    app text := shop.writer_app();
    detail text := NULLIF(current_setting('mergepoint.actor', true), '');
BEGIN
    IF app IS NULL THEN  -- the owner (seed, bench, migrations) or an unmanaged role
        RETURN left(COALESCE(detail, session_user::text), 200);
    END IF;
    IF detail LIKE app || ':%' THEN
        detail := substr(detail, length(app) + 2);
    END IF;
    RETURN left(app || COALESCE(':' || NULLIF(detail, ''), ''), 200);
END""",
    ),
}

# Trigger functions replaced or added here: (options, body).
FUNCTIONS = {
    # Invoker: current_user is whoever runs the statement; the owner only inside the
    # database's own SECURITY DEFINER functions.
    "products_guard": (
        INVOKER,
        """
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
    -- Only stock_movements_apply (SECURITY DEFINER: current_user is the owner, inside a
    -- trigger) moves stock; an app role can never be the owner, whatever its depth.
    IF NEW.stock IS DISTINCT FROM OLD.stock
       AND NOT (current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_class c
                                 WHERE c.oid = TG_RELID)
                AND pg_trigger_depth() > 1
                AND COALESCE(current_setting('mergepoint.applying_movement', true), '') = 'on')
    THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'stock_is_ledger_projection',
            DETAIL = format('product_id=%s stock=%s new_stock=%s', OLD.id, OLD.stock, NEW.stock),
            HINT = 'change stock by inserting a stock movement (restock or adjust)';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END""",
    ),
    "stock_movements_guard_reason": (
        INVOKER,
        """
BEGIN
    -- Written only by order_lines_sell and orders_return_stock (SECURITY DEFINER, inside a
    -- trigger): current_user is the owner there, and an app role never is.
    IF NEW.reason IN ('sale', 'cancel')
       AND NOT (current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_class c
                                 WHERE c.oid = TG_RELID)
                AND pg_trigger_depth() > 1) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'ledger_reason_reserved',
            DETAIL = format('reason=%s product_id=%s', NEW.reason, NEW.product_id),
            HINT = 'sale and cancel movements follow order lines and cancellations';
    END IF;
    RETURN NEW;
END""",
    ),
    # Definer: who acted, and when, come from the database for every app write.
    "stock_movements_stamp": (
        DEFINER,
        """
BEGIN
    NEW.actor := shop.movement_actor();
    IF shop.writer_app() IS NOT NULL THEN
        NEW.created_at := now();
    END IF;
    RETURN NEW;
END""",
    ),
    "order_lines_price": (
        DEFINER,
        """
BEGIN
    SELECT p.price_cents INTO NEW.unit_price_cents
      FROM shop.products p WHERE p.id = NEW.product_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        NEW.unit_price_cents := 0;  -- no such product: the foreign key reports it
    END IF;
    RETURN NEW;
END""",
    ),
    "orders_guard": (
        DEFINER,
        """
BEGIN
    IF OLD.status IN ('shipped', 'cancelled') THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'order_is_final',
            DETAIL = format('order_id=%s status=%s', OLD.id, OLD.status);
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT ((OLD.status = 'placed' AND NEW.status IN ('paid', 'cancelled'))
             OR (OLD.status = 'paid' AND NEW.status IN ('shipped', 'cancelled'))) THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'invalid_status_transition',
                DETAIL = format('order_id=%s from=%s to=%s', OLD.id, OLD.status, NEW.status);
        END IF;
        IF shop.writer_app() = 'storefront' AND NEW.status <> 'cancelled' THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'status_change_not_allowed',
                DETAIL = format('order_id=%s from=%s to=%s app=storefront',
                                OLD.id, OLD.status, NEW.status),
                HINT = 'the storefront may only cancel; staff mark orders paid and shipped';
        END IF;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END""",
    ),
}

NEW_TRIGGERS = [
    (
        "stock_movements_stamp",
        "BEFORE INSERT ON shop.stock_movements FOR EACH ROW",
        "stock_movements_stamp",
    ),
    ("order_lines_price", "BEFORE INSERT ON shop.order_lines FOR EACH ROW", "order_lines_price"),
]

# 0002's bodies, restored on downgrade.
PREVIOUS = ("products_guard", "stock_movements_guard_reason", "orders_guard")


def _create(name: str, signature: str, options: str, body: str, replace: bool = False) -> None:
    verb = "CREATE OR REPLACE" if replace else "CREATE"
    op.execute(f"{verb} FUNCTION shop.{name}() {signature} {options} AS $fn${body}\n$fn$")
    op.execute(f"REVOKE EXECUTE ON FUNCTION shop.{name}() FROM PUBLIC")


def upgrade() -> None:
    op.create_table(
        "app_roles",
        sa.Column("role_name", sa.Text(), nullable=False),
        sa.Column("app", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "app IN ('storefront', 'backoffice', 'reporting')", name=op.f("ck_app_roles_app")
        ),
        sa.PrimaryKeyConstraint("role_name", name=op.f("pk_app_roles")),
        schema="shop",
    )
    for name, (signature, body) in HELPERS.items():
        _create(name, signature, DEFINER, body)
    for name, (options, body) in FUNCTIONS.items():
        _create(name, "RETURNS trigger LANGUAGE plpgsql", options, body, replace=True)
    for trigger, when, function in NEW_TRIGGERS:
        op.execute(f"CREATE TRIGGER {trigger} {when} EXECUTE FUNCTION shop.{function}()")


def _revision_0002():  # type: ignore[no-untyped-def]
    """0002's module, whose function bodies the downgrade restores."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("0002_database_rules_as_triggers.py")
    spec = importlib.util.spec_from_file_location("mergepoint_revision_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    rules = _revision_0002()
    for trigger, when, _function in reversed(NEW_TRIGGERS):
        table = when.split(" ON ", 1)[1].split()[0]
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for name in ("stock_movements_stamp", "order_lines_price"):
        op.execute(f"DROP FUNCTION shop.{name}()")
    for name in PREVIOUS:
        options = (
            rules.DEFINER if name in rules.CROSS_TABLE else "SET search_path = pg_catalog, pg_temp"
        )
        _create(
            name, "RETURNS trigger LANGUAGE plpgsql", options, rules.FUNCTIONS[name], replace=True
        )
    for name in reversed(HELPERS):
        op.execute(f"DROP FUNCTION shop.{name}()")
    op.drop_table("app_roles", schema="shop")
