"""storefront.api_tokens.expires_at: an optional expiry per token (NULL: never)

Revision ID: sf0002
Revises: sf0001
Create Date: 2026-12-02 10:00:00

Tokens issued before this revision keep no expiry: setting one now could lock their
customers out (a token is a customer's only credential); revoke them if need be.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "sf0002"
down_revision: str | None = "sf0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_tokens",
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        schema="storefront",
    )


def downgrade() -> None:
    op.drop_column("api_tokens", "expires_at", schema="storefront")
