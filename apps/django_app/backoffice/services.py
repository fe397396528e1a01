"""The back office's business actions. Admin classes call these; nothing else writes.

Each action is one transaction and, for orders, one conditional UPDATE: the database
enforces the rules (status only forward, stock as the ledger's projection, stock
returned on cancel), so a race lost to the storefront shows up as zero rows updated or
a named rule error, which becomes a ``BackofficeError`` with a sentence for staff (as
does a lock held too long by someone else: the role has a lock_timeout).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.django_app.backoffice.errors import (
    BackofficeError,
    InvalidQuantity,
    InvalidTransition,
    ReadOnlyField,
    from_database_error,
)
from apps.django_app.backoffice.models import (
    FeedItem,
    MovementReason,
    Order,
    OrderStatus,
    Product,
    ShopSettings,
    StockMovement,
)

# The columns of products the back office may change (its role's UPDATE grant).
PRODUCT_EDITABLE = ("name", "price_cents", "active")

# The largest quantity one restock may add (stock is a 32-bit integer).
MAX_RESTOCK = 1_000_000


def staff_actor(username: str) -> str:
    """The ``actor`` recorded on movements a staff member causes."""
    return f"backoffice:{username}"


def _database_error(exc: DatabaseError) -> BackofficeError:
    """The domain error for what the database refused; anything else is a bug: re-raised."""
    error = from_database_error(exc)
    if error is None:
        raise exc
    return error


def _set_actor(actor: str) -> None:
    # Local to the transaction: the movement's `actor` column defaults to it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('mergepoint.actor', %s, true)", [actor])


def restock(product: Product, quantity: int, actor: str) -> StockMovement:
    """Add ``quantity`` units to ``product`` with a ``restock`` movement.

    The database applies the movement to ``products.stock``; ``product.stock`` is
    refreshed from it afterwards.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidQuantity("the quantity must be a whole number")
    if not 1 <= quantity <= MAX_RESTOCK:
        raise InvalidQuantity(f"the quantity must be between 1 and {MAX_RESTOCK:,}")
    try:
        with transaction.atomic():
            _set_actor(actor)
            movement = record_movement(product.pk, quantity, MovementReason.RESTOCK)
    except DatabaseError as exc:
        raise _database_error(exc) from exc
    product.refresh_from_db(fields=["stock", "updated_at"])
    return movement


def record_movement(product_id: int, delta: int, reason: str) -> StockMovement:
    """Insert a movement naming only the columns the role may write (its grant is
    column-level: the id, actor and time come from the database, and Django would name
    ``order_id``, NULL, and ``actor``, DEFAULT); the rest is read back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason) VALUES (%s, %s, %s)"
            " RETURNING id, order_id, actor, created_at",
            [product_id, delta, reason],
        )
        movement_id, order_id, actor, created_at = cursor.fetchone()
    return StockMovement(
        id=movement_id,
        product_id=product_id,
        delta=delta,
        reason=reason,
        order_id=order_id,
        actor=actor,
        created_at=created_at,
    )


# Where each action may start from; the database checks the same (orders_guard).
TRANSITIONS = {
    OrderStatus.PAID: (OrderStatus.PLACED,),
    OrderStatus.SHIPPED: (OrderStatus.PAID,),
    OrderStatus.CANCELLED: (OrderStatus.PLACED, OrderStatus.PAID),
}


def _move(order: Order, to: OrderStatus, actor: str | None = None) -> Order:
    allowed = TRANSITIONS[to]
    try:
        with transaction.atomic():
            if actor is not None:  # the cancel movements the database writes name who acted
                _set_actor(actor)
            moved = Order.objects.filter(pk=order.pk, status__in=allowed).update(status=to)
    except DatabaseError as exc:
        raise _database_error(exc) from exc
    if moved == 0:
        current = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
        if current is None:
            raise InvalidTransition(f"order #{order.pk} does not exist")
        raise InvalidTransition(
            f"order #{order.pk} is {current}; only {' or '.join(allowed)} orders can be {to}",
            details={"order_id": order.pk, "from": current, "to": str(to)},
        )
    order.refresh_from_db(fields=["status", "updated_at"])
    return order


def mark_paid(order: Order, actor: str | None = None) -> Order:
    """placed -> paid."""
    return _move(order, OrderStatus.PAID, actor)


def ship(order: Order, actor: str | None = None) -> Order:
    """paid -> shipped."""
    return _move(order, OrderStatus.SHIPPED, actor)


def cancel(order: Order, actor: str | None = None) -> Order:
    """placed|paid -> cancelled; the database returns each line's stock, once.

    ``actor`` (``staff_actor(username)``) is recorded on those ``cancel`` movements;
    without it they carry the back office role's name.
    """
    return _move(order, OrderStatus.CANCELLED, actor)


def create_product(product: Product) -> Product:
    """Insert a new product; it starts with stock 0 (restock it afterwards)."""
    try:
        with transaction.atomic():
            product.save(force_insert=True)
    except DatabaseError as exc:
        raise _database_error(exc) from exc
    return product


def update_product(product: Product, changed_fields: Iterable[str]) -> Product:
    """Write only ``changed_fields`` of ``product`` (never stock, so no sale is lost)."""
    fields = list(dict.fromkeys(changed_fields))
    refused = [f for f in fields if f not in PRODUCT_EDITABLE]
    if refused:
        raise ReadOnlyField(
            f"{', '.join(refused)} cannot be changed here (editable: {', '.join(PRODUCT_EDITABLE)})"
        )
    if not fields:
        return product
    try:
        with transaction.atomic():
            product.save(update_fields=fields)
    except DatabaseError as exc:
        raise _database_error(exc) from exc
    product.refresh_from_db(fields=["stock", "updated_at"])
    return product


def set_low_stock_threshold(threshold: int) -> None:
    """The shop's one low-stock threshold (the database checks the range too)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise InvalidQuantity("the threshold must be a whole number of units, 0 or more")
    try:
        with transaction.atomic():
            ShopSettings.objects.update(low_stock_threshold=threshold)
    except DatabaseError as exc:
        raise _database_error(exc) from exc


def mark_seen(items: QuerySet[FeedItem], user: object) -> int:
    """Mark feed items seen by ``user``; returns how many (a conditional update)."""
    return items.filter(seen_at__isnull=True).update(
        seen_at=timezone.now(), seen_by=getattr(user, "get_username", lambda: "")()
    )
