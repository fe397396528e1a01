"""Races against the storefront and between staff, on real threads and a real database.

Threads start together on a barrier (tests/concurrency.py). Each Django thread has its
own database connection and closes it; the storefront side is a plain psycopg
connection as the storefront role, doing what the storefront does. Rows are committed
(``committed_db``) and uniquely named, and every test ends by checking the ledger:
each product's stock equals the sum of its movements.
"""

from __future__ import annotations

import psycopg
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connections
from django.test import Client

from apps.django_app.backoffice import services
from apps.django_app.backoffice.errors import InvalidTransition
from apps.django_app.backoffice.models import Order, Product, StockMovement
from tests.concurrency import race
from tests.data import unique
from tests.django_app.conftest import make_user, through_pooler_module

# Each race runs twice: directly, and through PgBouncer in transaction mode.
pytestmark = [pytest.mark.slow, through_pooler_module]

ROUNDS = 8


def in_thread(work):
    """Run ``work`` and close the thread's Django connections, whatever happens."""

    def run(*args):
        try:
            return work(*args)
        finally:
            connections.close_all()

    return run


def sell(conn: psycopg.Connection, customer: int, product: int, quantity: int) -> int:
    """The storefront's order: the order, then its line; the database takes the stock."""
    with conn.transaction():
        oid = conn.execute(
            "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, %s)",
            [oid, product, quantity],
        )
    return oid


def assert_ledger_holds(shop, *products: int) -> None:
    for pid in products:
        assert shop.stock(pid) == shop.ledger_sum(pid), f"product {pid}"


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_ship_racing_cancel_exactly_one_wins(committed_db, shop):
    pid = shop.product(stock=ROUNDS * 2)
    orders = [shop.order({pid: 2}, status="paid") for _ in range(ROUNDS)]
    assert shop.stock(pid) == 0
    winners = []
    for oid in orders:
        actions = (services.ship, services.cancel)

        @in_thread
        def work(i, oid=oid, actions=actions):
            return actions[i](Order.objects.get(pk=oid)).status

        results = race(2, work)
        won = [r for r in results if isinstance(r, str)]
        lost = [r for r in results if not isinstance(r, str)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], InvalidTransition), lost
        assert shop.status(oid) == won[0]
        winners.append(won[0])
    cancelled = winners.count("cancelled")
    assert shop.stock(pid) == 2 * cancelled
    assert len(shop.product_movements(pid, "cancel")) == cancelled
    assert_ledger_holds(shop, pid)


def test_admin_cancel_racing_a_storefront_cancel_returns_the_stock_once(
    committed_db, shop, session_db
):
    pid = shop.product(stock=ROUNDS * 3)
    orders = [shop.order({pid: 3}) for _ in range(ROUNDS)]
    admin = staff_client(make_user(clerk=True))
    with session_db.connect("storefront", autocommit=True) as storefront:
        for oid in orders:

            @in_thread
            def work(i, oid=oid):
                if i == 0:
                    response = admin.post(
                        "/admin/backoffice/order/",
                        {"action": "cancel", "index": "0", ACTION_CHECKBOX_NAME: [str(oid)]},
                        follow=True,
                    )
                    assert response.status_code == 200
                    return "admin" if "1 order cancelled." in response.content.decode() else None
                return "storefront" if shop.cancel(oid, conn=storefront) == 1 else None

            results = race(2, work)
            assert all(not isinstance(r, BaseException) for r in results), results
            assert sum(r is not None for r in results) == 1, results
            assert shop.status(oid) == "cancelled"
    assert shop.stock(pid) == ROUNDS * 3
    returned = shop.product_movements(pid, "cancel")
    assert [delta for delta, _ in returned] == [3] * ROUNDS
    assert_ledger_holds(shop, pid)


def test_a_product_saved_while_a_sale_lands_keeps_the_sale(committed_db, shop, session_db):
    pid = shop.product(stock=20, price=500)
    customer = shop.customer()
    admin = staff_client(make_user(superuser=True))
    url = f"/admin/backoffice/product/{pid}/change/"
    with session_db.connect("storefront", autocommit=True) as storefront:
        # In sequence first: the form is loaded with stock 20, a sale lands, the form is saved.
        assert admin.get(url).status_code == 200
        sell(storefront, customer, pid, 3)
        response = admin.post(url, {"name": "Renamed", "price_cents": "550", "active": "on"})
        assert response.status_code == 302
        product = Product.objects.get(pk=pid)
        assert (product.name, product.price_cents, product.stock) == ("Renamed", 550, 17)

        # Then truly at once, several times over.
        for n in range(ROUNDS):

            @in_thread
            def work(i, n=n):
                if i == 0:
                    data = {"name": f"Renamed {n}", "price_cents": str(600 + n), "active": "on"}
                    return admin.post(url, data).status_code
                return sell(storefront, customer, pid, 1)

            results = race(2, work)
            assert results[0] == 302 and isinstance(results[1], int), results
    product = Product.objects.get(pk=pid)
    assert product.stock == 20 - 3 - ROUNDS
    assert product.price_cents == 600 + ROUNDS - 1
    assert_ledger_holds(shop, pid)


def test_restocks_racing_sales_lose_nothing(committed_db, shop, session_db):
    pid = shop.product(stock=6)  # enough for the three sales even before any restock
    customer = shop.customer()
    clerk = make_user(clerk=True)
    product = Product.objects.get(pk=pid)
    connections_ = [session_db.connect("storefront", autocommit=True) for _ in range(3)]
    try:

        @in_thread
        def work(i):
            if i < 3:
                return services.restock(product, 10, services.staff_actor(clerk.username)).delta
            sell(connections_[i - 3], customer, pid, 2)
            return -2

        results = race(6, work)
    finally:
        for conn in connections_:
            conn.close()
    assert all(isinstance(r, int) for r in results), results
    assert shop.stock(pid) == 6 + 30 - 6
    assert_ledger_holds(shop, pid)
    restocks = StockMovement.objects.filter(product_id=pid, reason="restock", delta=10)
    assert {m.actor for m in restocks} == {f"backoffice:{clerk.username}"}


def test_two_staff_adding_the_same_sku_get_one_product_and_no_error_page(committed_db):
    sku = unique("DUP")
    clients = [staff_client(make_user(superuser=True)) for _ in range(2)]

    @in_thread
    def work(i):
        data = {"sku": sku, "name": f"From {i}", "price_cents": "100", "active": "on"}
        response = clients[i].post("/admin/backoffice/product/add/", data, follow=True)
        return response.status_code, response.content.decode()

    results = race(2, work)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert [status for status, _ in results] == [200, 200]
    assert Product.objects.filter(sku=sku).count() == 1
    # The loser is told, by the form (it saw the winner's row) or by a message (it did not).
    told = ["already exists" in page for _, page in results]
    assert told.count(True) == 1, [page[-2000:] for _, page in results]
