"""Admin lists do not COUNT(*) a big table: the planner's estimate numbers the pages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.django_app.backoffice.models import Order
from apps.django_app.backoffice.paginator import EstimatedCountPaginator, planner_estimate

pytestmark = pytest.mark.django_db

ORDERS = "/admin/backoffice/order/"


def counts(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def test_small_results_are_counted_exactly(shop):
    pid = shop.product(stock=3)
    customer = shop.customer()
    for _ in range(3):
        shop.order({pid: 1}, customer=customer)
    paginator = EstimatedCountPaginator(Order.objects.filter(customer_id=customer), 2)
    assert (paginator.count, paginator.num_pages, paginator.estimated) == (3, 2, False)


def test_big_results_are_estimated_without_counting(shop, settings):
    settings.BACKOFFICE_EXACT_COUNT_BELOW = 0  # every list is "big"
    pid = shop.product(stock=1)
    shop.order({pid: 1})
    queryset = Order.objects.select_related("customer").order_by("-id")
    with CaptureQueriesContext(connection) as captured:
        paginator = EstimatedCountPaginator(queryset, 100)
        assert paginator.count == planner_estimate(queryset) > 0
    assert paginator.estimated
    assert counts(captured.captured_queries) == []
    assert all(q["sql"].startswith("EXPLAIN") for q in captured.captured_queries)


def test_an_empty_filter_is_zero_without_a_query():
    assert planner_estimate(Order.objects.filter(pk__in=[])) == 0


def test_the_orders_list_says_about_and_never_counts(superuser_client, shop, settings):
    settings.BACKOFFICE_EXACT_COUNT_BELOW = 0
    pid = shop.product(stock=2)
    shop.order({pid: 1})
    for page in (ORDERS, f"{ORDERS}?status__exact=placed", f"{ORDERS}?q=example.test"):
        with CaptureQueriesContext(connection) as captured:
            response = superuser_client.get(page)
        assert response.status_code == 200
        assert counts(captured.captured_queries) == [], page
        assert "about " in response.content.decode()


def test_the_orders_list_is_a_constant_number_of_queries(superuser_client, shop):
    """One join for the customers, not a query per row."""
    pid = shop.product(stock=30)
    customers = [shop.customer() for _ in range(3)]

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert superuser_client.get(ORDERS).status_code == 200
        return len(captured.captured_queries)

    before = queries()
    for i in range(12):
        shop.order({pid: 1}, customer=customers[i % 3])
    assert queries() == before


@pytest.mark.parametrize(
    "changelist",
    [
        ORDERS,
        "/admin/backoffice/product/",
        "/admin/backoffice/customer/",
        "/admin/backoffice/stockmovement/",
    ],
)
def test_no_list_offers_or_runs_facet_counts(superuser_client, shop, settings, changelist):
    """Django's "Show counts" (``?_facets``) would COUNT every filter choice over the table."""
    settings.BACKOFFICE_EXACT_COUNT_BELOW = 0
    pid = shop.product(stock=2)
    shop.order({pid: 1})
    response = superuser_client.get(changelist)
    assert response.status_code == 200
    assert "Show counts" not in response.content.decode()
    with CaptureQueriesContext(connection) as captured:
        response = superuser_client.get(f"{changelist}?_facets=1")
    assert response.status_code == 200
    assert counts(captured.captured_queries) == []
