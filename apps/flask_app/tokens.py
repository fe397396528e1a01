"""Customer API tokens: random, shown once, stored only as a hash in ``storefront``.

A token may expire (``expires_at``, set from the app's TOKEN_TTL when it is issued; NULL
never) and is revoked by deleting its row: a revoked token is an unknown one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from apps.flask_app.errors import ApiError
from apps.flask_app.tables import api_tokens

PREFIX = "mp_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # 256 bits


def token_hash(token: str) -> str:
    # High-entropy random tokens need no slow, salted hash: sha256 cannot be reversed or
    # brute-forced at 256 bits, and a lookup by hash stays one index probe.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: str  # shown to the customer once; only its hash is stored
    expires_at: datetime | None


# Expiry by the database's clock, like every other timestamp; a TTL of 0 means none.
_insert = (
    sa.insert(api_tokens)
    .values(
        customer_id=sa.bindparam("customer_id"),
        token_hash=sa.bindparam("token_hash"),
        expires_at=sa.case(
            (
                sa.bindparam("ttl", type_=sa.Integer) > 0,
                sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.bindparam("ttl")),
            ),
            else_=sa.null(),
        ),
    )
    .returning(api_tokens.c.expires_at)
)
# The customer's expired tokens go when a new one is issued: they can never be used again.
_prune_expired = sa.delete(api_tokens).where(
    api_tokens.c.customer_id == sa.bindparam("customer_id"),
    api_tokens.c.expires_at <= sa.func.now(),
)


def issue(conn: sa.Connection, customer_id: int, ttl: int = 0) -> Issued:
    """Store a new token for ``customer_id`` (in the caller's transaction) and return it;
    it expires ``ttl`` seconds from now (0: never)."""
    token = new_token()
    conn.execute(_prune_expired, {"customer_id": customer_id})
    expires_at = conn.execute(
        _insert, {"customer_id": customer_id, "token_hash": token_hash(token), "ttl": ttl}
    ).scalar_one()
    return Issued(token, expires_at)


def revoke(conn: sa.Connection, customer_id: int, token: str) -> bool:
    """Delete ``token`` (the customer's own) and commit; False if it was already gone."""
    deleted = conn.execute(
        sa.delete(api_tokens).where(
            api_tokens.c.token_hash == token_hash(token),
            api_tokens.c.customer_id == customer_id,
        )
    ).rowcount
    conn.commit()
    return deleted == 1


_lookup = sa.select(
    api_tokens.c.customer_id,
    api_tokens.c.expires_at,
    (api_tokens.c.expires_at <= sa.func.now()).label("expired"),
).where(api_tokens.c.token_hash == sa.bindparam("token_hash"))


def invalid_token(message: str) -> ApiError:
    """401 with RFC 6750's ``error="invalid_token"``: the client should get another token."""
    return ApiError(
        401,
        "unauthorized",
        message,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def refused(expires_at: datetime | None) -> ApiError:
    """The 401 for a token that is not live: unknown or revoked (``expires_at`` None), or
    expired at ``expires_at``."""
    if expires_at is None:
        return invalid_token(
            "unknown or revoked API token: use a token from POST /api/customers or POST /api/tokens"
        )
    return invalid_token(
        f"this API token expired at {expires_at.isoformat()}: use a current token "
        "(renew one before it expires with POST /api/tokens)"
    )


def customer_id(conn: sa.Connection, token: str) -> int:
    """The customer a live token belongs to, or 401."""
    found = conn.execute(_lookup, {"token_hash": token_hash(token)}).one_or_none()
    if found is None:
        raise refused(None)
    if found.expired:
        raise refused(found.expires_at)
    return found.customer_id
