"""Red team: the back office's daily sales rollup and what feeds it, against a compromised
role. The rollup lives in the back office's own namespace and is fed only by events the
database writes (and by the owner's seed, which announces its bulk loads): no other role
may read it, skew it through the stream, or force its rebuilds."""

from __future__ import annotations

import pytest
from psycopg import errors

from apps.django_app.backoffice import sales


def sales_cursor(shop) -> tuple:
    return shop.conn.execute(
        "SELECT cursor_txid::text, cursor_id FROM events.subscriptions WHERE consumer = %s",
        [sales.CONSUMER],
    ).fetchone()


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        # Read or write the rollup: another app's namespace.
        ("storefront", "SELECT * FROM backoffice.sales_rollup"),
        ("storefront", "UPDATE backoffice.sales_rollup SET value_cents = 0"),
        ("storefront", "DELETE FROM backoffice.sales_rollup_state"),
        ("reporting", "SELECT * FROM backoffice.sales_rollup"),
        # Announce a bulk load (every consumer of it would rebuild: a denial of service),
        # or forge an order event, whether through emit or straight into the outbox.
        ("storefront", "SELECT events.emit('shop.bulk_loaded', 0, '{}')"),
        ("backoffice", "SELECT events.emit('shop.bulk_loaded', 0, '{}')"),
        (
            "backoffice",
            "INSERT INTO events.outbox (topic, aggregate_id, payload, actor)"
            " VALUES ('shop.bulk_loaded', 0, '{}', 'seed')",
        ),
        (
            "storefront",
            "INSERT INTO events.outbox (topic, aggregate_id, payload, actor)"
            " VALUES ('order.placed', 1, '{\"order_id\": 1, \"status\": \"placed\"}', 'x')",
        ),
        # Add a topic of one's own, or subscribe oneself to the sales stream.
        ("backoffice", "INSERT INTO events.topics (name, description) VALUES ('x.y', 'x')"),
        ("storefront", "UPDATE events.subscriptions SET role_name = current_user"),
        # The reporting role may not consume it either.
        ("reporting", "SELECT * FROM events.poll('backoffice-sales', 10)"),
    ],
)
def test_no_role_reads_skews_or_rebuilds_the_rollup_but_through_the_database(
    fresh_db, role, statement
):
    with fresh_db.connect(role) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_storefront_cannot_take_or_skip_the_back_offices_sales_events(fresh_db, shop):
    shop.order({shop.product(stock=3): 1})  # an order.placed the rollup will count
    before = sales_cursor(shop)
    with fresh_db.connect("storefront") as conn:
        for statement in (
            "SELECT * FROM events.poll('backoffice-sales', 100)",
            "SELECT events.ack('backoffice-sales', '1'::xid8, 1)",
        ):
            with pytest.raises(errors.InsufficientPrivilege) as refused:
                conn.execute(statement)
            assert refused.value.diag.message_primary == "not_your_subscription"
            conn.rollback()
    assert sales_cursor(shop) == before  # untouched: the order is still to be counted
