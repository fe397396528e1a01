"""The business actions, each against the real database and its rules."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from apps.django_app.backoffice import services
from apps.django_app.backoffice.errors import (
    BackofficeError,
    InvalidQuantity,
    InvalidTransition,
    ReadOnlyField,
    from_integrity_error,
)
from apps.django_app.backoffice.models import Order, Product, StockMovement

pytestmark = pytest.mark.django_db


def test_restock_adds_a_movement_and_the_database_moves_the_stock(shop):
    product = Product.objects.get(pk=shop.product(stock=3))
    movement = services.restock(product, 7, services.staff_actor("alice"))
    assert (movement.delta, movement.reason, movement.actor) == (7, "restock", "backoffice:alice")
    assert movement.created_at is not None
    assert product.stock == 10
    assert StockMovement.objects.filter(product=product).count() == 2


@pytest.mark.parametrize("quantity", [0, -5, services.MAX_RESTOCK + 1, 2.5, "3", True])
def test_restock_refuses_a_bad_quantity(shop, quantity):
    product = Product.objects.get(pk=shop.product(stock=3))
    with pytest.raises(InvalidQuantity):
        services.restock(product, quantity, "backoffice:alice")
    product.refresh_from_db()
    assert product.stock == 3
    assert StockMovement.objects.filter(product=product).count() == 1


def test_the_movement_actor_is_the_app_without_a_setting(shop):
    movement = services.record_movement(shop.product(), 1, "adjust")
    assert movement.actor == "backoffice"  # the app's name, never the (prefixed) role's


@pytest.mark.parametrize(
    ("start", "action", "end"),
    [
        ("placed", services.mark_paid, "paid"),
        ("paid", services.ship, "shipped"),
        ("placed", services.cancel, "cancelled"),
        ("paid", services.cancel, "cancelled"),
    ],
)
def test_allowed_transitions(shop, start, action, end):
    pid = shop.product(stock=5)
    order = Order.objects.get(pk=shop.order({pid: 2}, status=start))
    action(order)
    assert order.status == end
    assert Order.objects.get(pk=order.pk).status == end


@pytest.mark.parametrize(
    ("start", "action"),
    [
        ("placed", services.ship),
        ("paid", services.mark_paid),
        ("shipped", services.cancel),
        ("shipped", services.mark_paid),
        ("cancelled", services.cancel),
        ("cancelled", services.ship),
    ],
)
def test_refused_transitions_are_domain_errors(shop, start, action):
    pid = shop.product(stock=5)
    order = Order.objects.get(pk=shop.order({pid: 2}, status=start))
    with pytest.raises(InvalidTransition) as raised:
        action(order)
    assert f"order #{order.pk} is {start}" in str(raised.value)
    assert Order.objects.get(pk=order.pk).status == start


def test_cancel_returns_the_stock_once(shop):
    pid = shop.product(stock=5)
    order = Order.objects.get(pk=shop.order({pid: 3}, status="paid"))
    assert Product.objects.get(pk=pid).stock == 2
    services.cancel(order)
    assert Product.objects.get(pk=pid).stock == 5
    with pytest.raises(InvalidTransition):
        services.cancel(order)
    assert Product.objects.get(pk=pid).stock == 5
    cancels = StockMovement.objects.filter(product_id=pid, reason="cancel")
    assert [m.delta for m in cancels] == [3]


def test_a_trigger_rule_becomes_a_domain_error_naming_it(shop):
    product = Product.objects.get(pk=shop.product(stock=2))
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        services.record_movement(product.pk, -5, "adjust")
    error = from_integrity_error(raised.value)
    assert error is not None and error.code == "insufficient_stock"
    assert error.details == {"product_id": str(product.pk), "available": "2", "requested": "5"}
    assert str(error) == "there is not enough stock"


def test_update_product_writes_only_the_changed_columns(shop, django_assert_num_queries):
    product = Product.objects.get(pk=shop.product(stock=4, price=100))
    product.name = "Renamed"
    product.price_cents = 250
    product.stock = 999  # never written
    with django_assert_num_queries(4) as captured:  # savepoint, UPDATE, release, refresh
        services.update_product(product, ["name", "price_cents"])
    update = next(q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE"))
    assert '"name"' in update and '"price_cents"' in update
    assert '"stock"' not in update and '"sku"' not in update and '"active"' not in update
    fresh = Product.objects.get(pk=product.pk)
    assert (fresh.name, fresh.price_cents, fresh.stock) == ("Renamed", 250, 4)
    assert product.stock == 4  # refreshed from the database


@pytest.mark.parametrize("field", ["stock", "sku", "created_at"])
def test_update_product_refuses_columns_the_role_may_not_write(shop, field):
    product = Product.objects.get(pk=shop.product())
    with pytest.raises(ReadOnlyField):
        services.update_product(product, ["name", field])


def test_update_product_maps_a_check_constraint_to_a_domain_error(shop):
    product = Product.objects.get(pk=shop.product(price=100))
    product.price_cents = -1
    with pytest.raises(BackofficeError) as raised:
        services.update_product(product, ["price_cents"])
    assert raised.value.code == "ck_products_price_cents_non_negative"
    assert Product.objects.get(pk=product.pk).price_cents == 100


def test_create_product_starts_at_zero_and_maps_a_duplicate_sku(shop):
    existing = Product.objects.get(pk=shop.product())
    product = services.create_product(Product(sku=existing.sku + "X", name="New", price_cents=5))
    assert product.pk and product.stock == 0 and product.created_at is not None
    with pytest.raises(BackofficeError) as raised:
        services.create_product(Product(sku=existing.sku, name="Dup", price_cents=5))
    assert raised.value.code == "uq_products_sku"


def test_a_row_locked_too_long_is_a_domain_error_not_a_500(shop, session_db):
    """Someone holds the order (a slow storefront transaction): the role's lock_timeout
    ends the wait, and staff are told to try again."""
    pid = shop.product(stock=2)
    order = Order.objects.get(pk=shop.order({pid: 1}))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '200ms'")
    with session_db.connect("storefront") as holder:
        holder.execute("SELECT 1 FROM shop.orders WHERE id = %s FOR UPDATE", [order.pk])
        with pytest.raises(BackofficeError) as raised:
            services.mark_paid(order)
        holder.rollback()
    assert raised.value.code == "lock_not_available"
    assert "try again" in str(raised.value)
    services.mark_paid(order)  # the test's transaction is still usable: the savepoint rolled back
    assert order.status == "paid"
