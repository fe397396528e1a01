"""Red team: the outbox and its protocol against a compromised app role."""

from __future__ import annotations

import pytest
from psycopg import errors


@pytest.mark.parametrize(
    ("role", "statement", "params"),
    [
        # Read or forge the stream, or a subscription, directly.
        ("storefront", "SELECT * FROM events.outbox", []),
        ("storefront", "SELECT * FROM events.subscriptions", []),
        (
            "storefront",
            "INSERT INTO events.outbox (topic, aggregate_id, payload, actor)"
            " VALUES ('order.paid', 1, '{}', 'backoffice:admin')",
            [],
        ),
        ("storefront", "SELECT events.emit('order.paid', 1, '{}')", []),
        (
            "backoffice",
            "INSERT INTO events.subscriptions (consumer, role_name, topics)"
            " VALUES ('spy', current_user, '{order.placed}')",
            [],
        ),
        ("backoffice", "UPDATE events.subscriptions SET cursor_id = 0", []),
        ("backoffice", "DELETE FROM events.outbox", []),
        # Another app's feed lives in another app's namespace.
        ("storefront", "SELECT * FROM backoffice.backoffice_feeditem", []),
        ("backoffice", "SELECT * FROM storefront.notifications", []),
        # The reporting role consumes nothing.
        ("reporting", "SELECT * FROM events.poll('backoffice-feed', 10)", []),
    ],
)
def test_roles_cannot_touch_the_outbox_except_through_the_protocol(
    fresh_db, role, statement, params
):
    with fresh_db.connect(role) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement, params)


def test_the_storefront_cannot_poll_or_acknowledge_the_back_offices_subscription(
    fresh_db, shop
):
    shop.order({shop.product(stock=3): 1})  # an order.placed for the back office's feed
    with fresh_db.connect("storefront") as conn:
        with pytest.raises(errors.InsufficientPrivilege) as polled:
            conn.execute("SELECT * FROM events.poll('backoffice-feed', 100)")
        assert polled.value.diag.message_primary == "not_your_subscription"
        conn.rollback()
        with pytest.raises(errors.InsufficientPrivilege) as acked:
            conn.execute("SELECT events.ack('backoffice-feed', '1'::xid8, 1)")
        assert acked.value.diag.message_primary == "not_your_subscription"
        conn.rollback()
    cursor = shop.conn.execute(
        "SELECT cursor_id FROM events.subscriptions WHERE consumer = 'backoffice-feed'"
    ).fetchone()
    assert cursor == (0,)  # untouched


def test_a_cursor_never_moves_past_transactions_that_may_still_run(fresh_db):
    with fresh_db.connect("storefront") as conn:
        with pytest.raises(errors.CheckViolation) as refused:
            conn.execute(
                "SELECT events.ack('storefront-notifications', '9000000000000'::xid8, 1)"
            )
    assert refused.value.diag.message_primary == "ack_beyond_horizon"


def test_an_unknown_subscription_is_named(fresh_db):
    with fresh_db.connect("storefront") as conn, pytest.raises(errors.CheckViolation) as err:
        conn.execute("SELECT * FROM events.poll('nobody', 10)")
    assert err.value.diag.message_primary == "unknown_subscription"
