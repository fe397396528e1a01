"""events: a shop.bulk_loaded topic, for rows written in bulk without their events

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00

``mergepoint seed`` writes history with the user triggers disabled (COPY, one
transaction): its orders emit no ``order.placed``, its cancellations no
``order.cancelled``. A consumer that derives state from those events (the back office's
daily sales rollup) would miss them without a word. The seed now says so in the same
transaction, through ``events.emit`` (the owner's): one ``shop.bulk_loaded`` event, with
the counts it wrote, so a consumer rebuilds what it derives from the shop's rows. Its
delivery follows commit order like every event, so the rebuild sees the loaded rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOPIC = "shop.bulk_loaded"
DESCRIPTION = (
    "rows were written in bulk without their events (mergepoint seed): rebuild what you"
    " derive from the shop's orders"
)


def upgrade() -> None:
    topics = sa.table(
        "topics", sa.column("name", sa.Text), sa.column("description", sa.Text), schema="events"
    )
    op.bulk_insert(topics, [{"name": TOPIC, "description": DESCRIPTION}])


def downgrade() -> None:
    # The outbox's foreign key names the topic: its events go with it.
    op.execute(f"DELETE FROM events.outbox WHERE topic = '{TOPIC}'")
    op.execute(f"DELETE FROM events.topics WHERE name = '{TOPIC}'")
