"""shop tables with named constraints

Revision ID: 0001
Revises:
Create Date: 2026-11-25 14:39:49.352395

The `shop` namespace itself is created by env.py before any revision runs (Alembic's
version table lives there), so the downgrade leaves it in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS reporting")
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "email ~ '^[^@\\s]+@[^@\\s]+$' AND length(email) <= 254",
            name=op.f("ck_customers_email_format"),
        ),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_customers_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        schema="shop",
    )
    op.create_index(
        "uq_customers_email_lower",
        "customers",
        [sa.literal_column("lower(email)")],
        unique=True,
        schema="shop",
    )
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "sku ~ '^[A-Z0-9][A-Z0-9-]{0,63}$'", name=op.f("ck_products_sku_format")
        ),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_products_name_length")),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_products_price_cents_non_negative")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_products_stock_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
        schema="shop",
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'placed'"), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "placed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_hash", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('placed', 'paid', 'shipped', 'cancelled')", name=op.f("ck_orders_status")
        ),
        sa.CheckConstraint(
            "(idempotency_key IS NULL) = (request_hash IS NULL)",
            name=op.f("ck_orders_idempotency_key_has_hash"),
        ),
        sa.CheckConstraint(
            "idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255",
            name=op.f("ck_orders_idempotency_key_length"),
        ),
        sa.CheckConstraint("total_cents >= 0", name=op.f("ck_orders_total_cents_non_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["shop.customers.id"],
            name=op.f("fk_orders_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "customer_id", "idempotency_key", name=op.f("uq_orders_customer_id_idempotency_key")
        ),
        schema="shop",
    )
    op.create_index(
        "ix_orders_customer_id_id", "orders", ["customer_id", "id"], unique=False, schema="shop"
    )
    op.create_index("ix_orders_placed_at", "orders", ["placed_at"], unique=False, schema="shop")
    op.create_index("ix_orders_status_id", "orders", ["status", "id"], unique=False, schema="shop")
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_cents", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "unit_price_cents >= 0", name=op.f("ck_order_lines_unit_price_cents_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["shop.orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["shop.products.id"],
            name=op.f("fk_order_lines_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("order_id", "product_id", name=op.f("pk_order_lines")),
        schema="shop",
    )
    op.create_index(
        "ix_order_lines_product_id", "order_lines", ["product_id"], unique=False, schema="shop"
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "actor",
            sa.Text(),
            server_default=sa.text(
                "COALESCE(NULLIF(current_setting('mergepoint.actor', true), ''), session_user)"
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(order_id IS NOT NULL) = (reason IN ('sale', 'cancel'))",
            name=op.f("ck_stock_movements_order_iff_sale_or_cancel"),
        ),
        sa.CheckConstraint(
            "(reason <> 'sale' OR delta < 0)"
            " AND (reason NOT IN ('restock', 'cancel') OR delta > 0)",
            name=op.f("ck_stock_movements_delta_sign"),
        ),
        sa.CheckConstraint(
            "reason IN ('restock', 'sale', 'cancel', 'adjust')",
            name=op.f("ck_stock_movements_reason"),
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_stock_movements_delta_non_zero")),
        sa.CheckConstraint(
            "length(actor) BETWEEN 1 AND 200", name=op.f("ck_stock_movements_actor_length")
        ),
        sa.ForeignKeyConstraint(
            ["order_id", "product_id"],
            ["shop.order_lines.order_id", "shop.order_lines.product_id"],
            name=op.f("fk_stock_movements_order_id_order_lines"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["shop.products.id"],
            name=op.f("fk_stock_movements_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
        schema="shop",
    )
    op.create_index(
        "ix_stock_movements_product_id_id",
        "stock_movements",
        ["product_id", "id"],
        unique=False,
        schema="shop",
    )
    op.create_index(
        "uq_stock_movements_cancel_order_id_product_id",
        "stock_movements",
        ["order_id", "product_id"],
        unique=True,
        schema="shop",
        postgresql_where=sa.text("reason = 'cancel'"),
    )
    op.create_index(
        "uq_stock_movements_sale_order_id_product_id",
        "stock_movements",
        ["order_id", "product_id"],
        unique=True,
        schema="shop",
        postgresql_where=sa.text("reason = 'sale'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_stock_movements_sale_order_id_product_id",
        table_name="stock_movements",
        schema="shop",
        postgresql_where=sa.text("reason = 'sale'"),
    )
    op.drop_index(
        "uq_stock_movements_cancel_order_id_product_id",
        table_name="stock_movements",
        schema="shop",
        postgresql_where=sa.text("reason = 'cancel'"),
    )
    op.drop_index("ix_stock_movements_product_id_id", table_name="stock_movements", schema="shop")
    op.drop_table("stock_movements", schema="shop")
    op.drop_index("ix_order_lines_product_id", table_name="order_lines", schema="shop")
    op.drop_table("order_lines", schema="shop")
    op.drop_index("ix_orders_status_id", table_name="orders", schema="shop")
    op.drop_index("ix_orders_placed_at", table_name="orders", schema="shop")
    op.drop_index("ix_orders_customer_id_id", table_name="orders", schema="shop")
    op.drop_table("orders", schema="shop")
    op.drop_table("products", schema="shop")
    op.drop_index("uq_customers_email_lower", table_name="customers", schema="shop")
    op.drop_table("customers", schema="shop")
    op.execute("DROP SCHEMA reporting")
