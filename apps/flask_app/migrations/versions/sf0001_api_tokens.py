"""storefront.api_tokens: customer API tokens, stored as sha256 hashes

Revision ID: sf0001
Revises:
Create Date: 2026-11-25 15:30:00

The foreign key to shop.customers(id) uses the storefront role's REFERENCES grant.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "sf0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "length(token_hash) = 64", name=op.f("ck_api_tokens_token_hash_sha256_hex")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["shop.customers.id"],
            name=op.f("fk_api_tokens_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        schema="storefront",
    )
    op.create_index("ix_api_tokens_customer_id", "api_tokens", ["customer_id"], schema="storefront")


def downgrade() -> None:
    op.drop_index("ix_api_tokens_customer_id", table_name="api_tokens", schema="storefront")
    op.drop_table("api_tokens", schema="storefront")
