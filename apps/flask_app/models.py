"""What the API takes and returns, as pydantic models (they also make /openapi.json).

Input limits are checked here so that a bad request is a 422 naming the field, never a
database error: the shared schema's CHECK constraints are the backstop, not the UI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)

# Same shape as the shared schema's ck_products_sku_format.
SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,63}$"
MAX_LINES = 50
MAX_QUANTITY = 1000
MAX_PAGE = 100
ORDER_STATUSES = ("placed", "paid", "shipped", "cancelled")
INT64_MAX = 2**63 - 1  # ids are bigint: a larger one is a 422/404 here, not a database error

Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]

# Patterns are read in three regex dialects: the OpenAPI document's (ECMA-262, as clients
# and schemathesis read it), pydantic's (Rust's regex) and Python's. Shorthands such as
# `\s` differ between them (U+0085 is whitespace to Rust and Python, not to ECMA-262;
# U+FEFF only to ECMA-262), so every class is spelled out with escapes all three read alike.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)  # what str.isspace() and ECMA-262's \s call whitespace, less the C0 controls (refused)
WHITESPACE_CLASS = (
    r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
_WIDE_SPACES = r"\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# A character of an address: no @, no control character, no whitespace.
_EMAIL_CHAR = rf"[^@\x00-\x20\x7f{_WIDE_SPACES}]"
# Stricter than the database's check (which wants one @ and no whitespace): a dot in the
# domain. Whitespace around the address is allowed and removed.
EMAIL_PATTERN = (
    rf"^{WHITESPACE_CLASS}*{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+{WHITESPACE_CLASS}*$"
)
# A name: no control characters, and at least one character that is not whitespace.
_NAME_CHAR = r"[^\x00-\x1f\x7f]"
NAME_PATTERN = rf"^{_NAME_CHAR}*[^\x00-\x20\x7f{_WIDE_SPACES}]{_NAME_CHAR}*$"


def strip_whitespace(value: str) -> str:
    """Whitespace around a value, as the patterns define it (after they matched the raw
    value, so the document's lengths and patterns describe exactly what is accepted)."""
    return value.strip(WHITESPACE)


Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=EMAIL_PATTERN),
    AfterValidator(strip_whitespace),
]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=NAME_PATTERN),
    AfterValidator(strip_whitespace),
]
IdempotencyKey = TypeAdapter(
    Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]
)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- requests ------------------------------------------------------------------------------


class CustomerCreate(Request):
    email: Email = Field(description="unique, case-insensitively", examples=["ada@example.com"])
    name: Name = Field(examples=["Ada Lovelace"])


def _integral_float_as_int(value: Any) -> Any:
    # JSON Schema's "integer" is any number without a fractional part: 2.0 is one.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer in a JSON body: 2 or 2.0, never "2", true or 2.5 (strict models).
JsonInt = Annotated[int, BeforeValidator(_integral_float_as_int)]


class OrderLineIn(Request):
    sku: Sku
    quantity: JsonInt = Field(ge=1, le=MAX_QUANTITY)


class OrderCreate(Request):
    lines: list[OrderLineIn] = Field(
        min_length=1,
        max_length=MAX_LINES,
        description="Lines with the same sku are one product: their quantities add up.",
    )

    def merged(self) -> dict[str, int]:
        """Quantity by sku, repeated skus added up, in the order skus first appear."""
        quantities: dict[str, int] = {}
        for line in self.lines:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
        return quantities


class ProductQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo (?limt=5) is a 422, not ignored

    q: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[^\x00]*$",
        description="case-insensitive substring of the sku or the name",
    )
    after: str | None = Field(
        None, max_length=64, pattern=r"^[^\x00]*$", description="the `next` of the previous page"
    )
    limit: int = Field(20, ge=1, le=MAX_PAGE)


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo (?limt=5) is a 422, not ignored

    after: int | None = Field(
        None, ge=1, le=INT64_MAX, description="the `next` of the previous page"
    )
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    status: Literal[ORDER_STATUSES] | None = None  # type: ignore[valid-type]


# --- responses -----------------------------------------------------------------------------


class Product(BaseModel):
    sku: str
    name: str
    price_cents: int
    stock: int


class ProductPage(BaseModel):
    items: list[Product]
    next: str | None = Field(description="pass as `after` for the next page; null on the last")


class Customer(BaseModel):
    id: int
    email: str
    name: str
    created_at: datetime


class Registration(BaseModel):
    customer: Customer
    token: str = Field(description="your API token: shown once, send it as a Bearer token")
    token_expires_at: datetime | None = Field(
        description="when the token expires (null: never); renew it before with POST /api/tokens"
    )


class ApiToken(BaseModel):
    token: str = Field(description="a new API token: shown once, send it as a Bearer token")
    expires_at: datetime | None = Field(description="when it expires (null: never)")


class OrderLine(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


class Order(BaseModel):
    id: int
    status: Literal[ORDER_STATUSES]  # type: ignore[valid-type]
    total_cents: int
    placed_at: datetime
    updated_at: datetime
    lines: list[OrderLine]


class OrderPage(BaseModel):
    items: list[Order]
    next: int | None = Field(description="pass as `after` for the next page; null on the last")


class StaffMe(BaseModel):
    user_id: int = Field(description="the back office's user id")
    username: str
    is_superuser: bool
    permissions: list[str] = Field(
        description="the back office's permissions (app_label.codename) when they logged in"
    )
    expires_at: datetime = Field(description="when this staff session ends at the latest")


class StaffOrder(BaseModel):
    id: int
    customer_id: int
    customer_email: str
    status: Literal[ORDER_STATUSES]  # type: ignore[valid-type]
    total_cents: int
    placed_at: datetime
    updated_at: datetime
    lines: list[OrderLine]


class StaffOrderPage(BaseModel):
    items: list[StaffOrder]
    next: int | None = Field(description="pass as `after` for the next page; null on the last")


class Status(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable", examples=["insufficient_stock"])
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: int | None = Field(
        None, ge=1, le=INT64_MAX, description="the `next` of the previous page"
    )
    limit: int = Field(20, ge=1, le=MAX_PAGE)


class Notification(BaseModel):
    id: int
    order_id: int
    kind: Literal["paid", "shipped", "cancelled"] = Field(
        description="what happened to the order (by staff, or by anyone but you)"
    )
    created_at: datetime


class NotificationPage(BaseModel):
    items: list[Notification]
    next: int | None = Field(description="pass as `after` for the next page; null on the last")


class DataExport(BaseModel):
    """Everything the storefront holds about you, as of ``exported_at``."""

    exported_at: datetime
    customer: Customer
    orders: list[Order] = Field(description="every order of yours, newest first, with its lines")
    notifications: list[Notification] = Field(description="what you were told, newest first")


class ExportPending(BaseModel):
    status: Literal["pending"] = Field(
        description="the export is being made: ask again (Retry-After says when)"
    )
    requested_at: datetime
