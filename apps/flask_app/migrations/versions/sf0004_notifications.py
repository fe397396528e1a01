"""storefront.notifications: what customers are told about their orders (from events)

Revision ID: sf0004
Revises: sf0003
Create Date: 2026-12-01 03:30:00

Written by the storefront's event consumer (`flask --app apps.flask_app events consume`)
in the transaction that acknowledges the event: ``event_id`` is unique, so a redelivered
event changes nothing. The foreign key to shop.customers(id) uses the REFERENCES grant.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "sf0004"
down_revision: str | None = "sf0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('paid', 'shipped', 'cancelled')", name=op.f("ck_notifications_kind")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["shop.customers.id"],
            name=op.f("fk_notifications_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("event_id", name=op.f("uq_notifications_event_id")),
        schema="storefront",
    )
    op.create_index(
        "ix_notifications_customer_id_id",
        "notifications",
        ["customer_id", "id"],
        schema="storefront",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_notifications_customer_id_id", table_name="notifications", schema="storefront"
    )
    op.drop_table("notifications", schema="storefront")
