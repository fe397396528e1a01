"""storefront.rate_limits: one counter per client and action, shared by every process

Revision ID: sf0003
Revises: sf0002
Create Date: 2026-12-02 10:05:00

A row per bucket (e.g. ``register:203.0.113.7``) counts the hits of its current window;
the window ends at ``window_ends`` and rows past it are pruned as hits come in.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "sf0003"
down_revision: str | None = "sf0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("window_ends", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("hits > 0", name=op.f("ck_rate_limits_hits_positive")),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_rate_limits")),
        schema="storefront",
    )
    op.create_index(
        "ix_rate_limits_window_ends", "rate_limits", ["window_ends"], schema="storefront"
    )


def downgrade() -> None:
    op.drop_index("ix_rate_limits_window_ends", table_name="rate_limits", schema="storefront")
    op.drop_table("rate_limits", schema="storefront")
