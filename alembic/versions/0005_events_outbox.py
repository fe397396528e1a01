"""events: a transactional outbox written by the database, consumed in commit order

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 03:00:00

Every business change writes an event in the same transaction, by the database's own
SECURITY DEFINER triggers (a rolled-back order emits nothing; no app writes the outbox):

* ``order.placed`` at commit (a deferred constraint trigger), with the order's final
  lines and total. ``SET CONSTRAINTS ALL IMMEDIATE`` fires it early: an order with no line
  then is refused (``order_has_no_lines``), and a line added after its order's
  ``order.placed`` was written is refused (``order_already_placed``);
* ``order.paid``, ``order.shipped``, ``order.cancelled`` on each status change;
* ``stock.low`` when a movement takes a product's stock from above the one low-stock
  threshold (``shop.settings``) to at or below it;
* ``product.price_changed``.

Consumers read through ``events.poll`` and ``events.ack`` (SECURITY DEFINER, checking that
the calling role is the subscription's): only events whose transaction is older than the
snapshot's xmin, in (txid, id) order, after the subscription's cursor. The subscription's
row is locked FOR UPDATE SKIP LOCKED for the batch's transaction, so two workers of one
consumer never take the same batch. Subscriptions are reconciled by `mergepoint migrate`
from the apps' descriptions (schema/events.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from schema.tables import XID8

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

TOPICS = {
    "order.placed": "an order was placed: its lines, total and customer",
    "order.paid": "staff marked an order paid",
    "order.shipped": "staff shipped an order",
    "order.cancelled": "an order was cancelled (by its customer or by staff)",
    "stock.low": "a movement took a product's stock to at or below the low-stock threshold",
    "product.price_changed": "a product's price changed",
}

FUNCTIONS = {
    # The one place events are written: who acted is the movements' actor.
    "events.emit(text, bigint, jsonb)": (
        "RETURNS void LANGUAGE plpgsql",  # plpgsql: its plan is cached per session
        """
BEGIN
    INSERT INTO events.outbox (topic, aggregate_id, payload, actor)
    VALUES ($1, $2, $3, shop.movement_actor());
END""",
    ),
    # order.placed, at commit: the order's final lines and total.
    "events.order_placed()": (
        "RETURNS trigger LANGUAGE plpgsql",
        """
BEGIN
    -- One statement: the order, its final lines and total, and who placed it.
    INSERT INTO events.outbox (topic, aggregate_id, payload, actor)
    SELECT 'order.placed', o.id,
           jsonb_build_object('order_id', o.id, 'customer_id', o.customer_id,
                              'status', 'placed', 'total_cents', o.total_cents,
                              'lines', l.lines),
           shop.movement_actor()
      FROM shop.orders o,
           LATERAL (SELECT jsonb_agg(jsonb_build_object(
                               'product_id', li.product_id, 'sku', p.sku, 'name', p.name,
                               'quantity', li.quantity,
                               'unit_price_cents', li.unit_price_cents)
                             ORDER BY li.product_id) AS lines
                      FROM shop.order_lines li JOIN shop.products p ON p.id = li.product_id
                     WHERE li.order_id = o.id) l
     WHERE o.id = NEW.id AND l.lines IS NOT NULL;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM shop.orders o WHERE o.id = NEW.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'order_has_no_lines',
            DETAIL = format('order_id=%s', NEW.id),
            HINT = 'insert an order and its lines in one transaction';
    END IF;
    RETURN NULL;
END""",
    ),
    "events.order_status_changed()": (
        "RETURNS trigger LANGUAGE plpgsql",
        """
BEGIN
    PERFORM events.emit('order.' || NEW.status, NEW.id, jsonb_build_object(
        'order_id', NEW.id, 'customer_id', NEW.customer_id, 'status', NEW.status,
        'previous_status', OLD.status, 'total_cents', NEW.total_cents));
    RETURN NULL;
END""",
    ),
    "events.price_changed()": (
        "RETURNS trigger LANGUAGE plpgsql",
        """
BEGIN
    PERFORM events.emit('product.price_changed', NEW.id, jsonb_build_object(
        'product_id', NEW.id, 'sku', NEW.sku, 'name', NEW.name,
        'previous_price_cents', OLD.price_cents, 'price_cents', NEW.price_cents));
    RETURN NULL;
END""",
    ),
    # The consumer's batch: only transactions older than the snapshot's xmin (all ended),
    # in commit-safe order after the cursor; the subscription row stays locked until the
    # caller's transaction ends, so a second worker gets nothing meanwhile.
    "events.poll(text, integer)": (
        "RETURNS TABLE (id bigint, txid xid8, topic text, aggregate_id bigint,"
        " payload jsonb, actor text, created_at timestamptz)"
        " LANGUAGE plpgsql",
        """
DECLARE
    sub events.subscriptions;
    horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
BEGIN
    SELECT * INTO sub FROM events.subscriptions s WHERE s.consumer = $1
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT 1 FROM events.subscriptions s WHERE s.consumer = $1) THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = 'unknown_subscription',
                DETAIL = format('consumer=%s', $1),
                HINT = 'subscriptions are declared by the apps and created by mergepoint migrate';
        END IF;
        RETURN;  -- another worker of this consumer holds the batch
    END IF;
    IF sub.role_name <> session_user THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'not_your_subscription',
            DETAIL = format('consumer=%s', $1);
    END IF;
    RETURN QUERY
        SELECT o.id, o.txid, o.topic, o.aggregate_id, o.payload, o.actor, o.created_at
          FROM events.outbox o
         WHERE (o.txid, o.id) > (sub.cursor_txid, sub.cursor_id)
           AND o.txid < horizon
           AND o.topic = ANY (sub.topics)
         ORDER BY o.txid, o.id
         LIMIT GREATEST(1, LEAST($2, 10000));
END""",
    ),
    # Acknowledge a batch: the cursor moves forward only, by the subscription's own role.
    "events.ack(text, xid8, bigint)": (
        "RETURNS void LANGUAGE plpgsql",
        """
DECLARE
    owner_role text;
BEGIN
    SELECT s.role_name INTO owner_role FROM events.subscriptions s WHERE s.consumer = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'unknown_subscription', DETAIL = format('consumer=%s', $1);
    END IF;
    IF owner_role <> session_user THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'not_your_subscription', DETAIL = format('consumer=%s', $1);
    END IF;
    IF $2 >= pg_snapshot_xmin(pg_current_snapshot()) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'ack_beyond_horizon',
            DETAIL = format('consumer=%s txid=%s', $1, $2);
    END IF;
    UPDATE events.subscriptions s
       SET cursor_txid = $2, cursor_id = $3, acked_at = now()
     WHERE s.consumer = $1 AND (s.cursor_txid, s.cursor_id) < ($2, $3);
END""",
    ),
}

# (trigger, table and timing, function)
TRIGGERS = [
    (
        "events_order_placed",
        "CONSTRAINT TRIGGER events_order_placed AFTER INSERT ON shop.orders"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW",
        "events.order_placed()",
    ),
    (
        "events_order_status_changed",
        "TRIGGER events_order_status_changed AFTER UPDATE OF status ON shop.orders FOR EACH ROW"
        " WHEN (NEW.status IS DISTINCT FROM OLD.status)",
        "events.order_status_changed()",
    ),
    (
        "events_price_changed",
        "TRIGGER events_price_changed AFTER UPDATE OF price_cents ON shop.products FOR EACH ROW"
        " WHEN (NEW.price_cents IS DISTINCT FROM OLD.price_cents)",
        "events.price_changed()",
    ),
]

# 0002/0004 bodies replaced here: the sale and the movement learn about events.
ORDER_LINES_SELL = """
BEGIN
    IF EXISTS (SELECT 1 FROM events.outbox e
                WHERE e.topic = 'order.placed' AND e.aggregate_id = NEW.order_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'order_already_placed',
            DETAIL = format('order_id=%s', NEW.order_id),
            HINT = 'lines are added in the transaction that places the order';
    END IF;
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
END"""

STOCK_MOVEMENTS_APPLY = """
DECLARE
    available integer;
    after integer;
    threshold integer;
    product record;
BEGIN
    PERFORM set_config('mergepoint.applying_movement', 'on', true);
    UPDATE shop.products SET stock = stock + NEW.delta
     WHERE id = NEW.product_id AND stock + NEW.delta >= 0
    RETURNING stock INTO after;
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
    ELSIF NEW.delta < 0 THEN
        SELECT s.low_stock_threshold INTO threshold FROM shop.settings s;
        IF after <= threshold AND after - NEW.delta > threshold THEN
            SELECT p.sku, p.name INTO product FROM shop.products p WHERE p.id = NEW.product_id;
            PERFORM events.emit('stock.low', NEW.product_id, jsonb_build_object(
                'product_id', NEW.product_id, 'sku', product.sku, 'name', product.name,
                'stock', after, 'threshold', threshold));
        END IF;
    END IF;
    PERFORM set_config('mergepoint.applying_movement', '', true);
    RETURN NULL;
END"""


def _function(signature: str, returns: str, body: str, replace: bool = False) -> None:
    verb = "CREATE OR REPLACE" if replace else "CREATE"
    op.execute(f"{verb} FUNCTION {signature} {returns} {DEFINER} AS $fn${body}\n$fn$")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")


def upgrade() -> None:
    op.execute("CREATE SCHEMA events")
    op.create_table(
        "settings",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("low_stock_threshold", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.CheckConstraint("id", name=op.f("ck_settings_one_row")),
        sa.CheckConstraint(
            "low_stock_threshold BETWEEN 0 AND 1000000",
            name=op.f("ck_settings_low_stock_threshold_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settings")),
        schema="shop",
    )
    op.execute("INSERT INTO shop.settings DEFAULT VALUES")
    op.create_table(
        "topics",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_topics")),
        schema="events",
    )
    topics = sa.table(
        "topics", sa.column("name", sa.Text), sa.column("description", sa.Text), schema="events"
    )
    op.bulk_insert(topics, [{"name": k, "description": v} for k, v in TOPICS.items()])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "txid", XID8(), server_default=sa.text("pg_current_xact_id()"), nullable=False
        ),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("aggregate_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["topic"], ["events.topics.name"], name=op.f("fk_outbox_topic_topics")
        ),
        # Commit-safe order is the only access path: one index, (txid, id), as the key.
        sa.PrimaryKeyConstraint("txid", "id", name=op.f("pk_outbox")),
        schema="events",
    )
    op.create_index(
        "uq_outbox_order_placed_aggregate_id",
        "outbox",
        ["aggregate_id"],
        unique=True,
        schema="events",
        postgresql_where=sa.text("topic = 'order.placed'"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("role_name", sa.Text(), nullable=False),
        sa.Column("topics", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "cursor_txid",
            XID8(),
            server_default=sa.text("pg_snapshot_xmin(pg_current_snapshot())"),
            nullable=False,
        ),
        sa.Column("cursor_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_subscriptions")),
        schema="events",
    )
    for signature, (returns, body) in FUNCTIONS.items():
        _function(signature, returns, body)
    for _name, definition, function in TRIGGERS:
        op.execute(f"CREATE {definition} EXECUTE FUNCTION {function}")
    _function("shop.order_lines_sell()", "RETURNS trigger LANGUAGE plpgsql", ORDER_LINES_SELL, True)
    _function(
        "shop.stock_movements_apply()",
        "RETURNS trigger LANGUAGE plpgsql",
        STOCK_MOVEMENTS_APPLY,
        True,
    )


def _revision(name: str):  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"mergepoint_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    rules = _revision("0002_database_rules_as_triggers.py")
    for name in ("order_lines_sell", "stock_movements_apply"):
        _function(f"shop.{name}()", "RETURNS trigger LANGUAGE plpgsql", rules.FUNCTIONS[name], True)
    for name, definition, _function_name in reversed(TRIGGERS):
        table = definition.split(" ON ", 1)[1].split()[0]
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_table("subscriptions", schema="events")
    op.drop_table("outbox", schema="events")
    op.drop_table("topics", schema="events")
    op.execute("DROP SCHEMA events")
    op.drop_table("settings", schema="shop")
