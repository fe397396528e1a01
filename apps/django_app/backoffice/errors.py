"""Domain errors: what staff can be told, instead of a 500.

The database names the rule it enforced (a trigger's error message is the rule's name,
a constraint error carries the constraint's name); ``from_integrity_error`` turns those
names into a sentence. These names are part of the shared schema's contract.
"""

from __future__ import annotations

import re

from django.db import DatabaseError, IntegrityError

# Rule names raised by the shared schema's triggers (SQLSTATE 23514, message = name).
RULES = (
    "insufficient_stock",
    "stock_is_ledger_projection",
    "ledger_is_append_only",
    "ledger_reason_reserved",
    "order_not_open",
    "order_lines_are_immutable",
    "order_is_final",
    "invalid_status_transition",
)

# Constraint names the back office relies on for friendly messages.
CONSTRAINTS = {
    "uq_products_sku": "a product with this SKU already exists",
    "ck_products_sku_format": "the SKU must be capital letters, digits and dashes",
    "ck_products_name_length": "the name must be 1 to 200 characters",
    "ck_products_price_cents_non_negative": "the price cannot be negative",
    "ck_products_stock_non_negative": "there is not enough stock",
    "ck_stock_movements_delta_non_zero": "the quantity cannot be zero",
    "ck_stock_movements_delta_sign": "a restock must add stock",
}

MESSAGES = {
    "insufficient_stock": "there is not enough stock",
    "stock_is_ledger_projection": "stock changes only through stock movements (restock)",
    "ledger_is_append_only": "stock movements cannot be changed; record a correction instead",
    "ledger_reason_reserved": "sale and cancel movements are written by the database only",
    "order_not_open": "the order is no longer open",
    "order_lines_are_immutable": "order lines cannot be changed; cancel the order instead",
    "order_is_final": "the order is already final (shipped or cancelled)",
    "invalid_status_transition": "that status change is not allowed",
}

# Transient refusals (a lock held too long, a timeout, a deadlock): worth a retry.
BUSY_SQLSTATES = {
    "55P03": "lock_not_available",
    "57014": "query_canceled",
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
}

# A value the database cannot hold (e.g. a restock that would take an integer stock past
# 2,147,483,647: the trigger's UPDATE overflows).
OUT_OF_RANGE = "22003"

_PAIR = re.compile(r"(\w+)=(\S+)")


class BackofficeError(Exception):
    """A business action that could not be done; ``str()`` is a sentence for staff."""

    code = "backoffice_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details = details or {}


class InvalidTransition(BackofficeError):
    code = "invalid_status_transition"


class InvalidQuantity(BackofficeError):
    code = "invalid_quantity"


class ReadOnlyField(BackofficeError):
    code = "read_only_field"


def from_integrity_error(exc: IntegrityError) -> BackofficeError | None:
    """The domain error for a rule or constraint the database reported, else None."""
    diag = getattr(exc.__cause__, "diag", None)
    if diag is None:
        return None
    details = dict(_PAIR.findall(diag.message_detail or ""))
    rule = diag.message_primary or ""
    if rule in MESSAGES:
        return BackofficeError(MESSAGES[rule], code=rule, details=details)
    constraint = diag.constraint_name or ""
    if constraint in CONSTRAINTS:
        return BackofficeError(CONSTRAINTS[constraint], code=constraint, details=details)
    return None


def from_database_error(exc: DatabaseError) -> BackofficeError | None:
    """A rule, a constraint, an out-of-range value or a transient refusal as a domain
    error, else None."""
    if isinstance(exc, IntegrityError):
        return from_integrity_error(exc)
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate == OUT_OF_RANGE:
        return BackofficeError(
            "the result would be larger than the database can hold",
            code="numeric_value_out_of_range",
        )
    if sqlstate in BUSY_SQLSTATES:
        return BackofficeError(
            "the database is busy with the same rows right now; try again in a moment",
            code=BUSY_SQLSTATES[sqlstate],
        )
    return None
