"""Every table the storefront touches, declared here and nowhere else.

``shop`` belongs to the shared schema (migrated by someone else): we declare only the
columns we use, exactly as the database has them, and a contract test compares these
declarations with the live database. ``storefront`` is ours: its MetaData is the target
of our own Alembic environment (apps/flask_app/migrations).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

SHOP = "shop"
STOREFRONT = "storefront"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# --- shop: read (and partly written) through the storefront role's grants -------------

shop_metadata = sa.MetaData(schema=SHOP)

customers = sa.Table(
    "customers",
    shop_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

products = sa.Table(
    "products",
    shop_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

orders = sa.Table(
    "orders",
    shop_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("total_cents", sa.BigInteger, nullable=False),
    sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Column("request_hash", sa.Text, nullable=True),
)

order_lines = sa.Table(
    "order_lines",
    shop_metadata,
    sa.Column("order_id", sa.BigInteger, primary_key=True),
    sa.Column("product_id", sa.BigInteger, primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price_cents", sa.Integer, nullable=False),
)

SHOP_TABLES = (customers, products, orders, order_lines)

# What we write, and the names of the shared schema's rules and constraints we react to.
# Part of our contract with the shared schema (tests/flask_app/test_contract.py).
WRITES = {
    "INSERT": {
        "shop.customers": ("email", "name"),
        "shop.orders": ("customer_id", "idempotency_key", "request_hash"),
        "shop.order_lines": ("order_id", "product_id", "quantity"),
    },
    "UPDATE": {"shop.orders": ("status",)},
    "REFERENCES": {"shop.customers": ("id",)},
}
CONSTRAINTS = {
    "shop.customers": (
        "uq_customers_email_lower",  # a unique index on lower(email)
        "ck_customers_email_format",
        "ck_customers_name_length",
    ),
    "shop.orders": ("uq_orders_customer_id_idempotency_key",),
    "shop.products": ("ck_products_stock_non_negative",),
}
# The shared schema's functions we call (regprocedure text): staff sessions, by hash; the
# task queue's (procrastinate's SQL API, alembic 0007), to defer on our own connection and
# to run our worker.
STAFF_SESSION = "identity.staff_session(text)"
QUEUE_CALLS = (
    "tasks.procrastinate_defer_jobs_v1(tasks.procrastinate_job_to_defer_v1[])",
    "tasks.procrastinate_defer_periodic_job_v2(character varying,character varying,"
    "character varying,character varying,integer,character varying,bigint,jsonb)",
    "tasks.procrastinate_fetch_job_v2(character varying[],bigint)",
    "tasks.procrastinate_finish_job_v1(bigint,tasks.procrastinate_job_status,boolean)",
    "tasks.procrastinate_retry_job_v2(bigint,timestamp with time zone,integer,"
    "character varying,character varying)",
    "tasks.procrastinate_register_worker_v1()",
    "tasks.procrastinate_unregister_worker_v1(bigint)",
    "tasks.procrastinate_update_heartbeat_v1(bigint)",
    "tasks.procrastinate_prune_stalled_workers_v1(double precision)",
)
CALLS = (STAFF_SESSION, *QUEUE_CALLS)
RULES = (
    "insufficient_stock",
    "order_not_open",
    "order_is_final",
    "invalid_status_transition",
    "status_change_not_allowed",
)

# --- storefront: our own namespace, migrated by our own Alembic environment -----------

storefront_metadata = sa.MetaData(schema=STOREFRONT, naming_convention=NAMING_CONVENTION)

api_tokens = sa.Table(
    "api_tokens",
    storefront_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        # Uses the REFERENCES grant on shop.customers(id); a token dies with its customer.
        sa.ForeignKey(customers.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    # sha256 of the token, hex: tokens are 256-bit random, so a fast hash is enough.
    sa.Column("token_hash", sa.Text, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    # NULL: the token never expires (TOKEN_TTL 0, or issued before expiry existed).
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("token_hash"),
    sa.CheckConstraint("length(token_hash) = 64", name="token_hash_sha256_hex"),
)
sa.Index("ix_api_tokens_customer_id", api_tokens.c.customer_id)

# What customers are told about their orders: written by the event consumer (events.py),
# one row per event at most (event_id is unique: a redelivered event changes nothing).
NOTIFICATION_KINDS = ("paid", "shipped", "cancelled")
notifications = sa.Table(
    "notifications",
    storefront_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        sa.ForeignKey(customers.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("order_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.UniqueConstraint("event_id"),
    sa.CheckConstraint("kind IN ('paid', 'shipped', 'cancelled')", name="kind"),
)
sa.Index("ix_notifications_customer_id_id", notifications.c.customer_id, notifications.c.id)

# The events the storefront consumes (the `events` namespace's protocol, alembic 0005).
SUBSCRIPTIONS = (
    {
        "name": "storefront-notifications",
        "topics": ["order.cancelled", "order.paid", "order.shipped"],
    },
)

# Rate limits (apps/flask_app/limits.py): one row per bucket ("register:<address>"), its
# window's hits; every process and host shares them, so a limit holds across all of them.
rate_limits = sa.Table(
    "rate_limits",
    storefront_metadata,
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("window_ends", sa.DateTime(timezone=True), nullable=False),
    sa.Column("hits", sa.BigInteger, nullable=False),
    sa.CheckConstraint("hits > 0", name="hits_positive"),
)
sa.Index("ix_rate_limits_window_ends", rate_limits.c.window_ends)

# A customer's data, exported by a job (jobs.py) and kept here for a while: the worker that
# writes it may run on another machine than the web process that serves it. ``public_id``
# is what the customer's URL names (random); one export pending per customer at a time.
EXPORT_STATUSES = ("pending", "done")
data_exports = sa.Table(
    "data_exports",
    storefront_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("public_id", sa.Text, nullable=False),
    sa.Column(
        "customer_id",
        sa.BigInteger,
        sa.ForeignKey(customers.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
    sa.Column("job_id", sa.BigInteger, nullable=True),
    sa.Column(
        "requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("content", postgresql.JSONB, nullable=True),
    sa.UniqueConstraint("public_id"),
    sa.CheckConstraint("status IN ('pending', 'done')", name="status"),
    sa.CheckConstraint("(status = 'done') = (content IS NOT NULL)", name="done_has_content"),
)
sa.Index(
    "uq_data_exports_pending_customer_id",
    data_exports.c.customer_id,
    unique=True,
    postgresql_where=sa.text("status = 'pending'"),
)
sa.Index("ix_data_exports_expires_at", data_exports.c.expires_at)

