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


# What the database returns is already what the API promises (its types are the columns'):
# the catalogue goes out as plain data, shaped as its models say (ProductPage, Product), with
# no validation on the way out; validating 20 rows from their attributes was a sixth of the
# storefront's CPU per catalogue page (bench.profile products).
# Plain str keys: a column's name is SQLAlchemy's quoted_name (a str subclass), which
# pydantic-core inspects attribute by attribute (that doubled the serialization's cost).
_PRODUCT_FIELDS = tuple(Product.model_fields)
assert _PRODUCT_FIELDS == tuple(c.name for c in _product_columns), "the columns are the model's"


def list_products(
    conn: sa.Connection, *, q: str | None, after: str | None, limit: int
) -> dict[str, Any]:
    """Active products by sku, ``limit`` at a time (keyset: ``after`` the last sku seen), as
    a ProductPage's data."""
    rows = conn.execute(
        _pages[bool(q), after is not None],
        {"pattern": _contains(q) if q else None, "after": after, "limit": limit + 1},
    ).all()
    return {
        "items": [dict(zip(_PRODUCT_FIELDS, row, strict=True)) for row in rows[:limit]],
        "next": rows[limit - 1][0] if len(rows) > limit else None,
    }


def get_product(conn: sa.Connection, sku: str) -> dict[str, Any]:
    """One active product, as a Product's data."""
    row = conn.execute(_product_by_sku, {"sku": sku}).one_or_none()
    if row is None:
        raise ApiError(404, "product_not_found", f"no product with sku {sku}", {"sku": sku})
    return dict(zip(_PRODUCT_FIELDS, row, strict=True))


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


# The whole order in one statement, run on its own (autocommit: it is its own transaction,
# one round trip): the token's customer, the products (setting the transaction-local actor
# the ledger rows the database writes will carry), the order, its lines in product-id order
# (so concurrent orders lock products in the same order) and what the response needs. The
# database still does everything it does for any writer: each line's price (order_lines_price),
# the sale movement and the stock (order_lines_sell), the total, `order.placed` at commit.
# Nothing is written unless the token is live and every sku is an active product. With an
# Idempotency-Key already used, ON CONFLICT inserts nothing (after waiting for a twin in
# flight) and the caller replays. The order's total_cents as its INSERT returns it is 0 (the
# line triggers run later in the statement), and a re-read in the same statement would not
# see them: the total is the sum of the lines' RETURNING, as the trigger adds it up.
PLACE_ORDER_SQL = """
WITH token AS (
    SELECT customer_id, expires_at, expires_at <= now() AS expired
      FROM storefront.api_tokens WHERE token_hash = :token_hash
), customer AS (
    SELECT customer_id FROM token WHERE expired IS NOT TRUE
), wanted AS (
    SELECT w.sku, w.quantity
      FROM unnest(CAST(:skus AS text[]), CAST(:quantities AS integer[])) AS w (sku, quantity)
), found AS MATERIALIZED (
    SELECT p.id, p.sku, p.name, w.quantity,
           set_config('mergepoint.actor', 'storefront:customer:' || c.customer_id, true)
      FROM wanted w
      JOIN shop.products p ON p.sku = w.sku AND p.active
     CROSS JOIN customer c
), placed AS (
    INSERT INTO shop.orders (customer_id, idempotency_key, request_hash)
    SELECT c.customer_id, :idempotency_key, :request_hash
      FROM customer c
     WHERE (SELECT count(*) FROM found) = cardinality(CAST(:skus AS text[]))
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING
    RETURNING id, status, placed_at, updated_at
), lines AS (
    INSERT INTO shop.order_lines (order_id, product_id, quantity)
    SELECT o.id, f.id, f.quantity FROM placed o CROSS JOIN found f ORDER BY f.id
    RETURNING product_id, quantity, unit_price_cents
)
SELECT t.customer_id, t.expires_at, t.expired,
       o.id, o.status, o.placed_at, o.updated_at,
       l.total_cents, l.skus, l.names, l.quantities, l.prices,
       ARRAY(SELECT w.sku FROM wanted w
              WHERE NOT EXISTS (SELECT FROM found f WHERE f.sku = w.sku)) AS missing
  FROM (VALUES (1)) AS one (x)
  LEFT JOIN token t ON true
  LEFT JOIN placed o ON true
  LEFT JOIN (
      SELECT CAST(sum(l.quantity::bigint * l.unit_price_cents) AS bigint) AS total_cents,
             array_agg(f.sku ORDER BY l.product_id) AS skus,
             array_agg(f.name ORDER BY l.product_id) AS names,
             array_agg(l.quantity ORDER BY l.product_id) AS quantities,
             array_agg(l.unit_price_cents ORDER BY l.product_id) AS prices
        FROM lines l JOIN found f ON f.id = l.product_id
  ) l ON true
"""
_place_order = sa.text(PLACE_ORDER_SQL).bindparams(
    sa.bindparam("token_hash", type_=sa.Text),
    sa.bindparam("skus", type_=ARRAY(sa.Text)),
    sa.bindparam("quantities", type_=ARRAY(sa.Integer)),
    sa.bindparam("idempotency_key", type_=sa.Text),
    sa.bindparam("request_hash", type_=sa.Text),
)
_order_head = sa.select(
    orders.c.id, orders.c.status, orders.c.total_cents, orders.c.placed_at, orders.c.updated_at
)
_by_key = sa.select(orders.c.id, orders.c.request_hash).where(
    orders.c.customer_id == sa.bindparam("customer_id"),
    orders.c.idempotency_key == sa.bindparam("idempotency_key"),
)
_sku_by_id = sa.select(products.c.sku).where(products.c.id == sa.bindparam("product_id"))


def place_order(
    conn: sa.Connection,
    token_hash: str,
    quantities: Mapping[str, int],
    idempotency_key: str | None = None,
) -> tuple[Order | dict[str, Any], bool]:
    """Place an order of ``quantities`` (by sku) for the customer whose API token hashes to
    ``token_hash``, in one statement and one transaction; returns (order, replayed): the
    new order as an Order's data, a replayed one as an Order.

    401 unless the token is live; 404 naming every unknown (or inactive) sku; 409
    insufficient_stock naming the sku the database refused. With an Idempotency-Key, a
    request already placed under that key (by this call's twin, even concurrently) is
    returned instead, and the same key with another body is refused (422).
    """
    digest = request_hash(quantities) if idempotency_key is not None else None
    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
    try:
        row = conn.execute(
            _place_order,
            {
                "token_hash": token_hash,
                "skus": list(quantities),
                "quantities": list(quantities.values()),
                "idempotency_key": idempotency_key,
                "request_hash": digest,
            },
        ).one()
    except sa.exc.IntegrityError as exc:
        conn.rollback()  # nothing to send: the statement was its own transaction
        refused = _line_refused(conn, DatabaseError.of(exc), quantities)
        if refused is None:
            raise  # unexpected: a 500 naming the request id, the message in the log
        raise refused from None
    if row.customer_id is None or row.expired:
        raise tokens.refused(row.expires_at)
    if row.id is not None:
        return (
            {
                "id": row.id,
                "status": row.status,
                "total_cents": row.total_cents,
                "placed_at": row.placed_at,
                "updated_at": row.updated_at,
                "lines": [
                    {"sku": s, "name": n, "quantity": q, "unit_price_cents": p}
                    for s, n, q, p in zip(
                        row.skus, row.names, row.quantities, row.prices, strict=True
                    )
                ],
            },
            False,
        )
    # Nothing placed: the key was used already (a replay wins over whatever else is wrong
    # with the body now, as when the key was looked up first), or a sku is unknown.
    if idempotency_key is not None:
        replay = _replay(conn, row.customer_id, idempotency_key, digest)
        if replay is not None:
            return replay, True
    if row.missing:
        missing = sorted(row.missing)
        raise ApiError(
            404,
            "product_not_found",
            f"no product with sku {', '.join(missing)}",
            {"skus": missing},
        )
    # A key conflict whose twin is not visible yet cannot happen (it committed before ON
    # CONFLICT gave up); should it, retrying is the answer.
    raise ApiError(409, "conflict", "retry the request")  # pragma: no cover


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


def _line_refused(
    conn: sa.Connection, err: DatabaseError, quantities: Mapping[str, int]
) -> ApiError | None:
    """The API error for a line the database refused (the order is rolled back: nothing is
    stored); the refused product is named by its sku, looked up (once the statement has
    failed) from the product id the rule's DETAIL carries."""
    sku = next(iter(quantities)) if len(quantities) == 1 else None
    product_id = err.detail.get("product_id", "")
    if sku is None and product_id.isdigit():
        sku = conn.execute(_sku_by_id, {"product_id": int(product_id)}).scalar()
    if sku is None:  # a rule that names no product (order_not_open): the order's first sku
        sku = min(quantities)
    if err.message == "insufficient_stock":
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
