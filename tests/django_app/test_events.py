"""The back office's event consumer: the staff feed on the admin index, and the one
low-stock threshold staff set."""

from __future__ import annotations

import signal
import time

import pytest
from django.contrib.auth.models import Permission, User

from apps.django_app.backoffice import events
from apps.django_app.backoffice.models import FeedItem, ShopSettings
from tests.data import unique
from tests.django_app.conftest import consuming, make_user

INDEX = "/admin/"

# Consuming needs committed rows and no transaction of its own around the test: a
# transaction holding an xid holds delivery back on the whole server until it ends (the
# `db` fixture's would, for the whole test). So these tests commit, with unique rows.


@pytest.fixture
def staff_client(committed_db, client):
    client.force_login(make_user(superuser=True))
    return client


def feed_until(condition, deadline: float = 30) -> None:
    """Consume batches until ``condition()`` (other transactions on the server may hold
    delivery back for a while: a deadline, never a latency)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "not delivered in time"
        if not events.handle_batch():
            time.sleep(0.02)


def test_new_orders_and_low_stock_reach_the_feed_once(staff_client, shop):
    threshold = ShopSettings.threshold()
    pid = shop.product(stock=threshold + 2)
    oid = shop.order({pid: 3})  # crosses the threshold: a stock.low too
    feed_until(lambda: FeedItem.objects.filter(order_id=oid).exists())
    feed_until(lambda: FeedItem.objects.filter(product_id=pid).exists())
    placed = FeedItem.objects.get(order_id=oid)
    assert placed.kind == "order.placed" and placed.message.startswith(f"Order #{oid} placed")
    low = FeedItem.objects.get(product_id=pid)
    assert f"has {threshold - 1} left (threshold {threshold})" in low.message

    page = staff_client.get(INDEX).content.decode()
    assert 'id="staff-feed"' in page and f"Order #{oid} placed" in page
    # Redelivered, the same events add nothing (event_id is unique).
    FeedItem.objects.bulk_create(
        [FeedItem(event_id=placed.event_id, kind=placed.kind, message="again")],
        ignore_conflicts=True,
    )
    assert FeedItem.objects.filter(event_id=placed.event_id).count() == 1


def test_staff_mark_the_feed_seen_from_the_index(staff_client, shop):
    oid = shop.order({shop.product(stock=50): 1})
    feed_until(lambda: FeedItem.objects.filter(order_id=oid).exists())
    item = FeedItem.objects.get(order_id=oid)
    response = staff_client.post(
        "/admin/backoffice/feeditem/seen/", {"ids": [str(item.pk)]}, follow=True
    )
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.seen_at is not None and item.seen_by
    assert f"Order #{oid} placed" not in staff_client.get(INDEX).content.decode()
    assert staff_client.get("/admin/backoffice/feeditem/seen/").status_code == 403


@pytest.mark.django_db
def test_staff_without_the_feed_permission_see_no_feed(client):
    user = User.objects.create_user(unique("staff").lower(), is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_product"))
    client.force_login(user)
    page = client.get(INDEX).content.decode()
    assert 'id="staff-feed"' not in page
    assert client.post("/admin/backoffice/feeditem/seen/", {"ids": ["1"]}).status_code == 403


def test_the_low_stock_threshold_is_one_setting_staff_change(staff_client, shop):
    before = ShopSettings.threshold()
    try:
        response = staff_client.post(
            "/admin/backoffice/shopsettings/True/change/", {"low_stock_threshold": "12"}
        )
        assert response.status_code == 302, response.content.decode()[:500]
        assert ShopSettings.threshold() == 12
        products = staff_client.get("/admin/backoffice/product/").content.decode()
        assert "Low (at or below 12)" in products
        pid = shop.product(stock=13)
        shop.order({pid: 1})  # 13 -> 12: the database's stock.low uses the same number
        feed_until(lambda: FeedItem.objects.filter(product_id=pid).exists())
        assert "(threshold 12)" in FeedItem.objects.get(product_id=pid).message
        bad = staff_client.post(
            "/admin/backoffice/shopsettings/True/change/", {"low_stock_threshold": "-1"}
        )
        assert bad.status_code == 200 and "errorlist" in bad.content.decode()
        assert ShopSettings.threshold() == 12
    finally:
        ShopSettings.objects.update(low_stock_threshold=before)


def test_consume_events_runs_and_stops_on_sigterm_within_ten_seconds(session_db):
    with consuming(session_db) as (process, lines):
        assert "events: consuming backoffice-feed" in lines[-1]
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        rest, _ = process.communicate(timeout=10)
    assert process.returncode == 0 and time.monotonic() - started < 10
    assert "events: stopped after" in rest and "Traceback" not in "".join(lines) + rest
