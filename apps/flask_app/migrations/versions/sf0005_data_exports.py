"""storefront.data_exports: a customer's data, exported by a job, kept for a while

Revision ID: sf0005
Revises: sf0004
Create Date: 2026-12-03 11:00:00

``POST /api/customers/me/export`` inserts a pending row and defers the job in the same
transaction; the storefront's worker fills ``content`` and the expiry. At most one pending
export per customer (a partial unique index); ``public_id`` is the random name in its URL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "sf0005"
down_revision: str | None = "sf0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("public_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'done')", name=op.f("ck_data_exports_status")
        ),
        sa.CheckConstraint(
            "(status = 'done') = (content IS NOT NULL)",
            name=op.f("ck_data_exports_done_has_content"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["shop.customers.id"],
            name=op.f("fk_data_exports_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        sa.UniqueConstraint("public_id", name=op.f("uq_data_exports_public_id")),
        schema="storefront",
    )
    op.create_index(
        "uq_data_exports_pending_customer_id",
        "data_exports",
        ["customer_id"],
        unique=True,
        schema="storefront",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_data_exports_expires_at", "data_exports", ["expires_at"], schema="storefront"
    )


def downgrade() -> None:
    op.drop_index("ix_data_exports_expires_at", table_name="data_exports", schema="storefront")
    op.drop_index(
        "uq_data_exports_pending_customer_id", table_name="data_exports", schema="storefront"
    )
    op.drop_table("data_exports", schema="storefront")
