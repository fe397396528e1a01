"""Customer API tokens: random, shown once, stored only as a hash in ``storefront``."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from apps.flask_app.errors import unauthorized
from apps.flask_app.tables import api_tokens

PREFIX = "mp_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # 256 bits


def token_hash(token: str) -> str:
    # High-entropy random tokens need no slow, salted hash: sha256 cannot be reversed or
    # brute-forced at 256 bits, and a lookup by hash stays one index probe.
    return hashlib.sha256(token.encode()).hexdigest()


def issue(conn: sa.Connection, customer_id: int) -> str:
    """Store a new token for ``customer_id`` (in the caller's transaction) and return it."""
    token = new_token()
    conn.execute(
        sa.insert(api_tokens).values(customer_id=customer_id, token_hash=token_hash(token))
    )
    return token


_lookup = sa.select(api_tokens.c.customer_id).where(
    api_tokens.c.token_hash == sa.bindparam("token_hash")
)


def customer_id(conn: sa.Connection, token: str) -> int:
    """The customer a token belongs to, or 401."""
    found = conn.execute(_lookup, {"token_hash": token_hash(token)}).scalar()
    if found is None:
        raise unauthorized("unknown API token: register with POST /api/customers")
    return found
