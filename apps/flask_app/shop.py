"""The storefront's business actions, each one transaction on a connection passed in.

The database enforces the rules (stock, ledger, status transitions); these functions
write in the order the rules expect and translate the rules' named errors into API
errors. Each function that writes commits its own transaction; on any error the
caller's connection is rolled back (``with engine.connect()`` does it on exit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from apps.flask_app import tokens
from apps.flask_app.db import DatabaseError
from apps.flask_app.errors import ApiError
from apps.flask_app.models import (
    Customer,
    Order,
    OrderLine,
    OrderPage,
    Product,
    ProductPage,
    Registration,
    StaffOrder,
    StaffOrderPage,
)
from apps.flask_app.tables import CONSTRAINTS, RULES, customers, order_lines, orders, products

UQ_EMAIL = "uq_customers_email_lower"
UQ_IDEMPOTENCY_KEY = "uq_orders_customer_id_idempotency_key"
CANCELLABLE = ("placed", "paid")
# The shared schema's checks on a customer, by the field a client would fix.
CUSTOMER_CHECKS = {"ck_customers_email_format": "email", "ck_customers_name_length": "name"}
# Names a client may see: the rules and constraints in our contract with the shared schema.
KNOWN_NAMES = frozenset(RULES) | {name for names in CONSTRAINTS.values() for name in names}


def rule_name(err: DatabaseError) -> str | None:
    """The contract's name for a refusal (a rule's message or a constraint's name), or None
    for anything else: a database message never reaches a client."""
    for name in (err.message, err.constraint):
        if name in KNOWN_NAMES:
            return name
    return None


# --- products --------------------------------------------------------------------------

_product_columns = (products.c.sku, products.c.name, products.c.price_cents, products.c.stock)


def _page_query(*, q: bool, after: bool) -> sa.Select[Any]:
    stmt = sa.select(*_product_columns).where(products.c.active)
    if q:
        pattern = sa.bindparam("pattern", type_=sa.Text)  # see _contains
        stmt = stmt.where(
            sa.or_(
                products.c.sku.ilike(pattern, escape="/"),
                products.c.name.ilike(pattern, escape="/"),
            )
        )
    if after:
        stmt = stmt.where(products.c.sku > sa.bindparam("after", type_=sa.Text))
    return stmt.order_by(products.c.sku).limit(sa.bindparam("limit", type_=sa.Integer))


# Built once: a request only binds values (no statement building or cache-key work per call).
_pages = {
    (q, after): _page_query(q=q, after=after) for q in (False, True) for after in (False, True)
}
_product_by_sku = sa.select(*_product_columns).where(
    products.c.sku == sa.bindparam("sku", type_=sa.Text), products.c.active
)


def _contains(q: str) -> str:
    """An ILIKE pattern matching ``q`` anywhere, its wildcards taken literally (escape /)."""
    return "%" + q.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def list_products(
    conn: sa.Connection, *, q: str | None, after: str | None, limit: int
) -> ProductPage:
    """Active products by sku, ``limit`` at a time (keyset: ``after`` the last sku seen)."""
    rows = conn.execute(
        _pages[bool(q), after is not None],
        {"pattern": _contains(q) if q else None, "after": after, "limit": limit + 1},
    ).all()
    # Rows validate straight from their attributes (in pydantic-core, no per-row dicts).
    return ProductPage.model_validate(
        {"items": rows[:limit], "next": rows[limit - 1].sku if len(rows) > limit else None},
        from_attributes=True,
    )


def get_product(conn: sa.Connection, sku: str) -> Product:
    row = conn.execute(_product_by_sku, {"sku": sku}).one_or_none()
    if row is None:
        raise ApiError(404, "product_not_found", f"no product with sku {sku}", {"sku": sku})
    return Product.model_validate(row, from_attributes=True)


# --- customers -------------------------------------------------------------------------


def register_customer(
    conn: sa.Connection, *, email: str, name: str, token_ttl: int = 0
) -> Registration:
    """A new customer and its first API token (returned once, stored hashed), expiring
    ``token_ttl`` seconds from now (0: never)."""
    try:
        row = conn.execute(
            sa.insert(customers)
            .values(email=email, name=name)
            .returning(customers.c.id, customers.c.email, customers.c.name, customers.c.created_at)
        ).one()
        issued = tokens.issue(conn, row.id, token_ttl)
        conn.commit()
    except sa.exc.IntegrityError as exc:
        conn.rollback()
        err = DatabaseError.of(exc)
        if err.constraint == UQ_EMAIL:
            raise ApiError(
                409,
                "email_taken",
                f"a customer with email {email} already exists",
                {"email": email},
            ) from None
        field = CUSTOMER_CHECKS.get(err.constraint or "")
        if field is not None:  # the schema's own checks, stricter than ours in places
            message = f"the shop does not accept this {field}"
            raise ApiError(
                422,
                "validation_error",
                f"invalid body: {field}: {message}",
                {"in": "body", "fields": {field: message}, "rule": err.constraint},
            ) from None
        raise  # unexpected: a 500 naming the request id, the database's message in the log
    return Registration(
        customer=Customer(**row._mapping), token=issued.token, token_expires_at=issued.expires_at
    )


def get_customer(conn: sa.Connection, customer_id: int) -> Customer:
    row = conn.execute(
        sa.select(
            customers.c.id, customers.c.email, customers.c.name, customers.c.created_at
        ).where(customers.c.id == customer_id)
    ).one()
    return Customer(**row._mapping)


# --- orders ----------------------------------------------------------------------------


def actor(customer_id: int) -> str:
    return f"storefront:customer:{customer_id}"


# Transaction-local (is_local true): the ledger rows the database writes carry who acted.
_set_actor_stmt = sa.select(
    sa.func.set_config("mergepoint.actor", sa.bindparam("actor", type_=sa.Text), sa.true())
)


def _set_actor(conn: sa.Connection, customer_id: int) -> None:
    conn.execute(_set_actor_stmt, {"actor": actor(customer_id)})


def request_hash(quantities: Mapping[str, int]) -> str:
    """The same order whatever the order of its lines, how they split a product's quantity,
    or the JSON spacing: the hash of the merged lines (quantity by sku), sorted by sku."""
    canonical = sorted(quantities.items())
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


# The order's products, and (same round trip) the transaction-local actor the ledger rows
# the database writes for the lines will carry. set_config runs once per row found, always
# with the same value; when no row is found the order is refused anyway (404).
_products_by_sku = sa.select(
    products.c.id,
    products.c.sku,
    products.c.name,
    products.c.price_cents,
    sa.func.set_config("mergepoint.actor", sa.bindparam("actor", type_=sa.Text), sa.true()),
).where(
    products.c.sku == sa.any_(sa.bindparam("skus", type_=ARRAY(sa.Text))),
    products.c.active,
)
_insert_order = (
    sa.insert(orders)
    .values(
        customer_id=sa.bindparam("customer_id"),
        idempotency_key=sa.bindparam("idempotency_key"),
        request_hash=sa.bindparam("request_hash"),
    )
    .returning(orders.c.id)
)
# The database sets each line's price from the product (order_lines_price) and says which.
_insert_line = sa.insert(order_lines).returning(order_lines.c.unit_price_cents)
_order_head = sa.select(
    orders.c.id, orders.c.status, orders.c.total_cents, orders.c.placed_at, orders.c.updated_at
)
_order_head_by_id = _order_head.where(orders.c.id == sa.bindparam("order_id"))
_by_key = sa.select(orders.c.id, orders.c.request_hash).where(
    orders.c.customer_id == sa.bindparam("customer_id"),
    orders.c.idempotency_key == sa.bindparam("idempotency_key"),
)


class _KeyTaken(Exception):
    """A concurrent request with the same Idempotency-Key committed first."""


def place_order(
    conn: sa.Connection,
    customer_id: int,
    quantities: Mapping[str, int],
    idempotency_key: str | None = None,
) -> tuple[Order, bool]:
    """Place an order of ``quantities`` (by sku) in one transaction; returns (order, replayed).

    The order row first, then one INSERT per line in product-id order (so concurrent
    orders lock products in the same order), each at the product's current price; the
    database takes the stock and keeps total_cents. With an Idempotency-Key, a request
    already placed under that key (by this call's twin, even concurrently) is returned
    instead, and the same key with another body is refused.
    """
    digest = request_hash(quantities) if idempotency_key is not None else None
    if idempotency_key is not None:
        replay = _replay(conn, customer_id, idempotency_key, digest)
        if replay is not None:
            return replay, True
    try:
        order = _place(conn, customer_id, quantities, idempotency_key, digest)
        conn.commit()
        return order, False
    except _KeyTaken:
        # The twin won; its order is committed (we waited on the unique index for it).
        conn.rollback()
        replay = _replay(conn, customer_id, idempotency_key, digest)  # type: ignore[arg-type]
        if replay is None:  # pragma: no cover - the twin committed, so its row is visible
            raise ApiError(409, "conflict", "retry the request") from None
        return replay, True
    except BaseException:
        conn.rollback()
        raise


def _replay(conn: sa.Connection, customer_id: int, key: str, digest: str | None) -> Order | None:
    row = conn.execute(_by_key, {"customer_id": customer_id, "idempotency_key": key}).one_or_none()
    if row is None:
        return None
    if row.request_hash != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different order; use a new key",
            {"idempotency_key": key, "order_id": row.id},
        )
    return get_order(conn, customer_id, row.id)


def _place(
    conn: sa.Connection,
    customer_id: int,
    quantities: Mapping[str, int],
    key: str | None,
    digest: str | None,
) -> Order:
    found = conn.execute(
        _products_by_sku, {"skus": list(quantities), "actor": actor(customer_id)}
    ).all()
    missing = sorted(quantities.keys() - {p.sku for p in found})
    if missing:
        raise ApiError(
            404,
            "product_not_found",
            f"no product with sku {', '.join(missing)}",
            {"skus": missing},
        )
    try:
        order_id = conn.execute(
            _insert_order,
            {"customer_id": customer_id, "idempotency_key": key, "request_hash": digest},
        ).scalar_one()
    except sa.exc.IntegrityError as exc:
        if DatabaseError.of(exc).constraint == UQ_IDEMPOTENCY_KEY:
            raise _KeyTaken from None
        raise
    by_id = {p.id: p for p in found}
    prices: dict[int, int] = {}
    for product in sorted(found, key=lambda p: p.id):
        try:
            prices[product.id] = conn.execute(
                _insert_line,
                {
                    "order_id": order_id,
                    "product_id": product.id,
                    "quantity": quantities[product.sku],
                },
            ).scalar_one()
        except sa.exc.IntegrityError as exc:
            refused = _line_refused(DatabaseError.of(exc), product.sku, by_id)
            if refused is None:
                raise  # unexpected: a 500 naming the request id, the message in the log
            raise refused from None
    head = conn.execute(_order_head_by_id, {"order_id": order_id}).one()
    return Order(
        **head._mapping,
        lines=[
            OrderLine(
                sku=p.sku,
                name=p.name,
                quantity=quantities[p.sku],
                unit_price_cents=prices[p.id],
            )
            for p in sorted(found, key=lambda p: p.id)
        ],
    )


def _line_refused(err: DatabaseError, sku: str, by_id: dict[int, Any]) -> ApiError | None:
    """The API error for a line the database refused (``sku``'s), None if unexpected."""
    if err.message == "insufficient_stock":
        product = by_id.get(int(err.detail.get("product_id", 0)))
        sku = product.sku if product is not None else sku
        available = int(err.detail.get("available", 0))
        requested = int(err.detail.get("requested", 0))
        return ApiError(
            409,
            "insufficient_stock",
            f"not enough stock for {sku}: {available} available, {requested} requested",
            {"sku": sku, "available": available, "requested": requested},
        )
    rule = rule_name(err)
    if rule is None:
        return None
    return ApiError(
        409, "conflict", f"the shop refused the line for {sku} ({rule})", {"rule": rule, "sku": sku}
    )


def _lines(conn: sa.Connection, order_ids: Sequence[int]) -> dict[int, list[OrderLine]]:
    rows = conn.execute(
        sa.select(
            order_lines.c.order_id,
            products.c.sku,
            products.c.name,
            order_lines.c.quantity,
            order_lines.c.unit_price_cents,
        )
        .join(products, products.c.id == order_lines.c.product_id)
        .where(order_lines.c.order_id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.BigInteger))))
        .order_by(order_lines.c.order_id, order_lines.c.product_id),
        {"ids": list(order_ids)},
    ).all()
    out: dict[int, list[OrderLine]] = {oid: [] for oid in order_ids}
    for row in rows:
        out[row.order_id].append(
            OrderLine(
                sku=row.sku,
                name=row.name,
                quantity=row.quantity,
                unit_price_cents=row.unit_price_cents,
            )
        )
    return out


def _not_found(order_id: int) -> ApiError:
    return ApiError(404, "order_not_found", f"no order {order_id}", {"order_id": order_id})


def get_order(conn: sa.Connection, customer_id: int, order_id: int) -> Order:
    """One of the customer's orders; another customer's order does not exist for them."""
    head = conn.execute(
        _order_head.where(orders.c.id == order_id, orders.c.customer_id == customer_id)
    ).one_or_none()
    if head is None:
        raise _not_found(order_id)
    return Order(**head._mapping, lines=_lines(conn, [order_id])[order_id])


def list_orders(
    conn: sa.Connection,
    customer_id: int,
    *,
    after: int | None,
    limit: int,
    status: str | None = None,
) -> OrderPage:
    """The customer's orders, newest first (keyset: ``after`` the last id seen)."""
    stmt = _order_head.where(orders.c.customer_id == customer_id)
    if status is not None:
        stmt = stmt.where(orders.c.status == status)
    if after is not None:
        stmt = stmt.where(orders.c.id < after)
    heads = conn.execute(stmt.order_by(orders.c.id.desc()).limit(limit + 1)).all()
    page = heads[:limit]
    lines = _lines(conn, [h.id for h in page]) if page else {}
    items = [Order(**h._mapping, lines=lines[h.id]) for h in page]
    return OrderPage(items=items, next=page[-1].id if len(heads) > limit else None)


_staff_order_head = sa.select(
    orders.c.id,
    orders.c.customer_id,
    customers.c.email.label("customer_email"),
    orders.c.status,
    orders.c.total_cents,
    orders.c.placed_at,
    orders.c.updated_at,
).join(customers, customers.c.id == orders.c.customer_id)


def list_all_orders(
    conn: sa.Connection, *, after: int | None, limit: int, status: str | None = None
) -> StaffOrderPage:
    """Every customer's orders, newest first (keyset on the id: the primary key, or
    ix_orders_status_id with a status)."""
    stmt = _staff_order_head
    if status is not None:
        stmt = stmt.where(orders.c.status == status)
    if after is not None:
        stmt = stmt.where(orders.c.id < after)
    heads = conn.execute(stmt.order_by(orders.c.id.desc()).limit(limit + 1)).all()
    page = heads[:limit]
    lines = _lines(conn, [h.id for h in page]) if page else {}
    items = [StaffOrder(**h._mapping, lines=lines[h.id]) for h in page]
    return StaffOrderPage(items=items, next=page[-1].id if len(heads) > limit else None)


def cancel_order(conn: sa.Connection, customer_id: int, order_id: int) -> Order:
    """One conditional update; the database returns the stock (once, however many race)."""
    _set_actor(conn, customer_id)
    try:
        head = conn.execute(
            sa.update(orders)
            .where(
                orders.c.id == order_id,
                orders.c.customer_id == customer_id,
                orders.c.status.in_(CANCELLABLE),
            )
            .values(status="cancelled")
            .returning(*_order_head.selected_columns)
        ).one_or_none()
    except sa.exc.IntegrityError as exc:  # a rule: the order moved on under us
        conn.rollback()
        rule = rule_name(DatabaseError.of(exc))
        if rule is None:
            raise  # unexpected: a 500 naming the request id, the message in the log
        raise ApiError(
            409,
            "order_not_cancellable",
            f"the order can no longer be cancelled ({rule})",
            {"order_id": order_id, "rule": rule},
        ) from None
    if head is None:
        status = conn.execute(
            sa.select(orders.c.status).where(
                orders.c.id == order_id, orders.c.customer_id == customer_id
            )
        ).scalar()
        conn.rollback()
        if status is None:
            raise _not_found(order_id)
        raise ApiError(
            409,
            "order_not_cancellable",
            f"order {order_id} is {status}; only placed or paid orders can be cancelled",
            {"order_id": order_id, "status": status},
        )
    order = Order(**head._mapping, lines=_lines(conn, [order_id])[order_id])
    conn.commit()
    return order
