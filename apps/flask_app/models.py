"""What the API takes and returns, as pydantic models (they also make /openapi.json).

Input limits are checked here so that a bad request is a 422 naming the field, never a
database error: the shared schema's CHECK constraints are the backstop, not the UI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator

# Same shape as the shared schema's ck_products_sku_format.
SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,63}$"
MAX_LINES = 50
MAX_QUANTITY = 1000
MAX_PAGE = 100
ORDER_STATUSES = ("placed", "paid", "shipped", "cancelled")
INT64_MAX = 2**63 - 1  # ids are bigint: a larger one is a 422/404 here, not a database error

Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]
# Stricter than the database's check (which wants one @ and no whitespace): a dot in the
# domain, no control characters, at most 254 characters.
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$",
    ),
]
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
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


class OrderLineIn(Request):
    sku: Sku
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderCreate(Request):
    lines: list[OrderLineIn] = Field(
        min_length=1, max_length=MAX_LINES, description="one line per product"
    )

    @field_validator("lines")
    @classmethod
    def one_line_per_sku(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        seen: set[str] = set()
        for line in lines:
            if line.sku in seen:
                raise ValueError(f"sku {line.sku} appears twice: put each product on one line")
            seen.add(line.sku)
        return lines


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


class Status(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable", examples=["insufficient_stock"])
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail
