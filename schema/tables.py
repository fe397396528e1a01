"""The shared ``shop`` namespace as SQLAlchemy MetaData: the single truth Alembic migrates.

Every constraint is named through the naming convention, so names are predictable
and the applications can rely on them (they are part of each consumer's contract).
CHECK sets live here too; the triggers that enforce the cross-table rules are in the
migrations (autogenerate does not see triggers) and are tested in tests/schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.base import ischema_names

SHOP = "shop"
REPORTING = "reporting"
EVENTS = "events"
IDENTITY = "identity"
TASKS = "tasks"  # procrastinate's tables and functions (schema/tasks.py), not in this MetaData
# What Alembic compares with this MetaData (its include_name allow-list).
ALEMBIC_SCHEMAS = (SHOP, REPORTING, EVENTS, IDENTITY)
# Every namespace the owner owns: grants, EXECUTE and declared functions are reconciled here.
OWNED_SCHEMAS = (*ALEMBIC_SCHEMAS, TASKS)


class XID8(sa.types.UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (``xid8``): the outbox's commit-order key."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


ischema_names["xid8"] = XID8  # so reflection (drift, `alembic check`) recognises it

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORDER_STATUSES = ("placed", "paid", "shipped", "cancelled")
FINAL_STATUSES = ("shipped", "cancelled")
MOVEMENT_REASONS = ("restock", "sale", "cancel", "adjust")

metadata = sa.MetaData(schema=SHOP, naming_convention=NAMING_CONVENTION)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True)


def _now(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


customers = sa.Table(
    "customers",
    metadata,
    _id(),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    _now("created_at"),
    sa.CheckConstraint(
        r"email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254", name="email_format"
    ),
    sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
)
sa.Index("uq_customers_email_lower", sa.func.lower(customers.c.email), unique=True)

products = sa.Table(
    "products",
    metadata,
    _id(),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("stock", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _now("created_at"),
    _now("updated_at"),
    sa.UniqueConstraint("sku"),
    sa.CheckConstraint("sku ~ '^[A-Z0-9][A-Z0-9-]{0,63}$'", name="sku_format"),
    sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    sa.CheckConstraint("price_cents >= 0", name="price_cents_non_negative"),
    sa.CheckConstraint("stock >= 0", name="stock_non_negative"),
)

orders = sa.Table(
    "orders",
    metadata,
    _id(),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        sa.ForeignKey("shop.customers.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'placed'")),
    sa.Column("total_cents", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    _now("placed_at"),
    _now("updated_at"),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Column("request_hash", sa.Text, nullable=True),
    sa.UniqueConstraint("customer_id", "idempotency_key"),
    sa.CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
    sa.CheckConstraint("total_cents >= 0", name="total_cents_non_negative"),
    sa.CheckConstraint(
        "(idempotency_key IS NULL) = (request_hash IS NULL)", name="idempotency_key_has_hash"
    ),
    sa.CheckConstraint(
        "idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255",
        name="idempotency_key_length",
    ),
)
sa.Index("ix_orders_customer_id_id", orders.c.customer_id, orders.c.id)
sa.Index("ix_orders_placed_at", orders.c.placed_at)
sa.Index("ix_orders_status_id", orders.c.status, orders.c.id)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column(
        "order_id",
        sa.BigInteger,
        sa.ForeignKey("shop.orders.id", ondelete="RESTRICT"),
        primary_key=True,
    ),
    sa.Column(
        "product_id",
        sa.BigInteger,
        sa.ForeignKey("shop.products.id", ondelete="RESTRICT"),
        primary_key=True,
    ),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price_cents", sa.Integer, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("unit_price_cents >= 0", name="unit_price_cents_non_negative"),
)
sa.Index("ix_order_lines_product_id", order_lines.c.product_id)

# Who acted: the transaction's ``mergepoint.actor`` setting, else the login role's name.
ACTOR_DEFAULT = "COALESCE(NULLIF(current_setting('mergepoint.actor', true), ''), session_user)"

stock_movements = sa.Table(
    "stock_movements",
    metadata,
    _id(),
    sa.Column(
        "product_id",
        sa.BigInteger,
        sa.ForeignKey("shop.products.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    sa.Column("delta", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("order_id", sa.BigInteger, nullable=True),
    sa.Column("actor", sa.Text, nullable=False, server_default=sa.text(ACTOR_DEFAULT)),
    _now("created_at"),
    # A sale or cancel movement belongs to an existing order line; restock/adjust to none.
    sa.ForeignKeyConstraint(
        ["order_id", "product_id"],
        ["shop.order_lines.order_id", "shop.order_lines.product_id"],
        ondelete="RESTRICT",
    ),
    sa.CheckConstraint("delta <> 0", name="delta_non_zero"),
    sa.CheckConstraint(_in("reason", MOVEMENT_REASONS), name="reason"),
    sa.CheckConstraint(
        "(order_id IS NOT NULL) = (reason IN ('sale', 'cancel'))", name="order_iff_sale_or_cancel"
    ),
    sa.CheckConstraint(
        "(reason <> 'sale' OR delta < 0) AND (reason NOT IN ('restock', 'cancel') OR delta > 0)",
        name="delta_sign",
    ),
    sa.CheckConstraint("length(actor) BETWEEN 1 AND 200", name="actor_length"),
)
sa.Index("ix_stock_movements_product_id_id", stock_movements.c.product_id, stock_movements.c.id)
sa.Index(
    "uq_stock_movements_sale_order_id_product_id",
    stock_movements.c.order_id,
    stock_movements.c.product_id,
    unique=True,
    postgresql_where=sa.text("reason = 'sale'"),
)
sa.Index(
    "uq_stock_movements_cancel_order_id_product_id",
    stock_movements.c.order_id,
    stock_movements.c.product_id,
    unique=True,
    postgresql_where=sa.text("reason = 'cancel'"),
)

TABLES = (customers, products, orders, order_lines, stock_movements)
TABLE_NAMES = tuple(t.name for t in TABLES)

# Which app each managed login role is (prefixed in tests): the owner reconciles it from
# schema/roles.py, the rules read it (who writes), no app role may see it.
APPS = ("storefront", "backoffice", "reporting")
app_roles = sa.Table(
    "app_roles",
    metadata,
    sa.Column("role_name", sa.Text, primary_key=True),
    sa.Column("app", sa.Text, nullable=False),
    sa.CheckConstraint(_in("app", APPS), name="app"),
)

# The shop's settings, one row: the one low-stock threshold (the stock.low event, the
# admin's filter, the low_stock report's default and the dashboard all read it).
settings = sa.Table(
    "settings",
    metadata,
    sa.Column("id", sa.Boolean, primary_key=True, server_default=sa.true()),
    sa.Column("low_stock_threshold", sa.Integer, nullable=False, server_default=sa.text("5")),
    sa.CheckConstraint("id", name="one_row"),
    sa.CheckConstraint(
        "low_stock_threshold BETWEEN 0 AND 1000000", name="low_stock_threshold_range"
    ),
)

# --- events: the transactional outbox (written only by the database's triggers) --------

topics = sa.Table(
    "topics",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    schema=EVENTS,
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
    sa.Column("txid", XID8, nullable=False, server_default=sa.text("pg_current_xact_id()")),
    sa.Column("topic", sa.Text, sa.ForeignKey("events.topics.name"), nullable=False),
    sa.Column("aggregate_id", sa.BigInteger, nullable=False),
    sa.Column("payload", postgresql.JSONB, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    _now("created_at"),
    # Commit-safe order is the only access path: one index, (txid, id), as the key.
    sa.PrimaryKeyConstraint("txid", "id"),
    schema=EVENTS,
)
sa.Index(
    "uq_outbox_order_placed_aggregate_id",
    outbox.c.aggregate_id,
    unique=True,
    postgresql_where=sa.text("topic = 'order.placed'"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("role_name", sa.Text, nullable=False),
    sa.Column("topics", postgresql.ARRAY(sa.Text), nullable=False),
    sa.Column(
        "cursor_txid",
        XID8,
        nullable=False,
        server_default=sa.text("pg_snapshot_xmin(pg_current_snapshot())"),
    ),
    sa.Column("cursor_id", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    _now("created_at"),
    sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
    schema=EVENTS,
)

TOPICS = (
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.cancelled",
    "stock.low",
    "product.price_changed",
    "shop.bulk_loaded",  # 0008: the seed wrote rows without their events
)

# Staff sessions of the back office, keyed by the sha256 (hex) of its session key: written
# and ended only through identity's SECURITY DEFINER functions (the back office's), looked
# up one at a time by hash (the storefront's); no app role reads the table.
staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("key_hash", sa.Text, primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("is_superuser", sa.Boolean, nullable=False),
    sa.Column("permissions", postgresql.ARRAY(sa.Text), nullable=False),
    _now("created_at"),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("key_hash ~ '^[0-9a-f]{64}$'", name="key_hash_sha256_hex"),
    sa.CheckConstraint("length(username) BETWEEN 1 AND 150", name="username_length"),
    schema=IDENTITY,
)
sa.Index("ix_staff_sessions_user_id", staff_sessions.c.user_id)
sa.Index("ix_staff_sessions_expires_at", staff_sessions.c.expires_at)
