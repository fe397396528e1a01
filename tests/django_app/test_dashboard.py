"""The admin index's dashboard: 30 days of sales and the status funnel as the reports
count them, low stock from the shop's one threshold, each only for who may see it."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.django_app.backoffice import events
from apps.django_app.backoffice.models import Product, SalesRollupState, ShopSettings
from schema import reports
from tests.data import unique
from tests.django_app.conftest import make_user

INDEX = "/admin/"


def svg(page: str, element_id: str) -> ET.Element:
    """The chart, parsed as XML: it must be well-formed SVG."""
    match = re.search(rf'<svg id="{element_id}".*?</svg>', page, re.S)
    assert match, f"no svg#{element_id} on the page"
    return ET.fromstring(match.group(0))


def report_rows(session_db, name: str, **params: object) -> list[tuple]:
    with session_db.connect("reporting") as conn:
        return reports.run(reports.find(name), conn, params).rows


def sales_caught_up(session_db, deadline: float = 30) -> None:
    """Consume the sales subscription until every event of it is acknowledged."""
    end = time.monotonic() + deadline
    with session_db.connect(autocommit=True) as owner:
        while owner.execute(
            "SELECT count(*) FROM events.outbox o, events.subscriptions s"
            " WHERE s.consumer = 'backoffice-sales' AND o.topic = ANY (s.topics)"
            " AND (o.txid, o.id) > (s.cursor_txid, s.cursor_id)"
        ).fetchone()[0]:
            assert time.monotonic() < end, "not delivered in time"
            if not events.handle_sales_batch():
                time.sleep(0.02)


def user_with(*codenames: str) -> User:
    user = User.objects.create_user(unique("staff").lower(), is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # a fresh permission cache


def test_the_index_charts_30_days_of_sales_and_the_funnel_as_the_reports_count_them(
    committed_db, client, shop, session_db
):
    client.force_login(make_user(superuser=True))
    pid = shop.product(stock=100, price=1999)
    shop.order({pid: 2}, status="shipped")
    shop.order({pid: 1}, status="cancelled")
    for days_ago in (1, 12, 29, 30):  # the 30th day back is outside the chart
        placed_at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
        shop.order({pid: 3}, placed_at=placed_at, status="paid")
    sales_caught_up(session_db)

    page = client.get(INDEX).content.decode()
    chart = svg(page, "sales-by-day")
    bars = [
        (r.get("data-day"), int(r.get("data-revenue-cents")), int(r.get("data-orders")))
        for r in chart.iter("rect")
    ]
    today = datetime.now(UTC).date()
    expected = report_rows(session_db, "sales_by_day", date_from="today-29", date_to="today")
    assert len(bars) == 30 and bars[-1][0] == today.isoformat()
    assert bars == [(str(r[0]), r[3], r[1]) for r in expected]
    assert bars[-1][1] >= 2 * 1999 and bars[0][1] >= 3 * 1999  # today, and 29 days ago

    funnel = [
        (r.get("data-status"), int(r.get("data-orders")), int(r.get("data-value-cents")))
        for r in svg(page, "order-funnel").iter("rect")
    ]
    counted = report_rows(session_db, "order_status_funnel", date_from="today-29")
    assert funnel == [(r[0], r[1], r[3]) for r in counted]
    shares = re.findall(
        r'<tr data-status="(\w+)"><th scope="row">\w+</th><td>\d+</td><td>([^<]+)</td>', page
    )
    assert shares == [(r[0], f"{r[2]}%") for r in counted]
    # Each chart's text alternative: a table behind a <details>, a row per day.
    table = re.search(
        r"<details>\s*<summary>Sales by day as a table</summary>(.*?)</details>", page, re.S
    )
    assert table and table.group(1).count("<tr data-day=") == 30
    assert 'role="img"' in page and 'aria-labelledby="sales-by-day-title sales-by-day-desc"' in page


def test_the_index_reads_the_rollup_not_the_orders(committed_db, client, shop, session_db):
    client.force_login(make_user(superuser=True))
    shop.order({shop.product(stock=5): 1})
    sales_caught_up(session_db)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(INDEX).status_code == 200
    read = " ".join(q["sql"] for q in queries.captured_queries)
    assert '"sales_rollup"' in read and '"products"' in read
    assert not re.search(r'(FROM|JOIN) "(orders|order_lines)"', read), read


@pytest.mark.django_db
def test_staff_without_the_view_permission_on_orders_see_no_sales(client):
    client.force_login(user_with("view_product"))
    page = client.get(INDEX).content.decode()
    assert 'id="dashboard"' in page and "Low stock:" in page
    for hidden in ('id="sales-by-day"', 'id="order-funnel"', "sales-pending", "Sales by day"):
        assert hidden not in page

    client.force_login(user_with("view_order"))
    page = client.get(INDEX).content.decode()
    assert 'id="sales-by-day"' in page or 'id="sales-pending"' in page
    assert "Low stock:" not in page

    client.force_login(user_with())  # staff with no permission: no dashboard at all
    assert 'id="dashboard"' not in client.get(INDEX).content.decode()


@pytest.mark.django_db
def test_before_the_rollup_is_built_the_index_says_who_builds_it(superuser_client):
    SalesRollupState.objects.all().delete()  # rolled back with the test
    page = superuser_client.get(INDEX).content.decode()
    assert 'id="sales-by-day"' not in page
    assert "builds the daily sales rollup when it starts" in page


@pytest.mark.django_db
def test_low_stock_lists_active_products_at_or_below_the_shop_threshold(superuser_client, shop):
    threshold = ShopSettings.threshold()
    ids = {
        "empty": shop.product(stock=0),
        "at": shop.product(stock=threshold),
        "inactive": shop.product(stock=0, active=False),
        "above": shop.product(stock=threshold + 1),
    }
    # Only these are active here (the test's transaction, rolled back at its end).
    Product.objects.exclude(pk__in=ids.values()).update(active=False)
    sku = dict(Product.objects.filter(pk__in=ids.values()).values_list("pk", "sku"))
    page = superuser_client.get(INDEX).content.decode()
    bars = [
        (r.get("data-sku"), int(r.get("data-stock")))
        for r in svg(page, "low-stock").iter("rect")
        if r.get("data-sku")
    ]
    assert bars == [(sku[ids["empty"]], 0), (sku[ids["at"]], threshold)]  # emptiest first
    assert f"Low stock: 2 active products at or below {threshold} units" in page
    assert "?stock=low&amp;active__exact=1" in page

    Product.objects.filter(pk__in=[ids["empty"], ids["at"]]).update(active=False)
    page = superuser_client.get(INDEX).content.decode()
    assert 'id="low-stock"' not in page and "No active product is at or below" in page
