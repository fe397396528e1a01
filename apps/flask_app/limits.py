"""Rate limits kept in the database, so they hold across processes and hosts.

One statement per hit, atomic under any concurrency: an upsert of the bucket's counter
(``register:<address>``) that starts a new window when the old one has ended, and returns
the count; concurrent hits on a bucket queue on its row, so exactly ``limit`` hits of a
window are allowed. The same statement deletes a few rows whose window has ended (those
no other hit holds), so the table stays as small as the set of recently active clients.

A window is fixed and starts with its bucket's first hit: ``limit`` hits, then 429 with
Retry-After until ``window`` seconds after that first hit. Every attempt counts, valid or
not (an email already taken is an answer worth limiting too).

The client is REMOTE_ADDR as the WSGI server gives it, never a header a client can send:
behind a proxy, let gunicorn take the client's address from the proxy (PROXY protocol,
``--proxy-protocol`` with ``--proxy-allow-from``). An IPv6 client is its /64, which one
host usually holds whole.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, request

from apps.flask_app.db import connection
from apps.flask_app.errors import ApiError

# Expired rows one hit deletes, at most: more than a hit can create, so the table shrinks.
PRUNE = 10

_hit = sa.text(
    """
    WITH pruned AS (
        DELETE FROM storefront.rate_limits
         WHERE bucket IN (
               SELECT bucket FROM storefront.rate_limits
                WHERE window_ends <= now() AND bucket <> :bucket
                ORDER BY window_ends
                LIMIT :prune
                  FOR UPDATE SKIP LOCKED)
    )
    INSERT INTO storefront.rate_limits AS r (bucket, window_ends, hits)
    VALUES (:bucket, now() + make_interval(secs => :window), 1)
    ON CONFLICT (bucket) DO UPDATE
       SET hits = CASE WHEN r.window_ends > now() THEN r.hits + 1 ELSE 1 END,
           window_ends = CASE WHEN r.window_ends > now() THEN r.window_ends
                              ELSE excluded.window_ends END
    RETURNING hits, extract(epoch FROM window_ends - now()) AS remaining
    """
).bindparams(
    sa.bindparam("bucket", type_=sa.Text),
    sa.bindparam("window", type_=sa.Integer),
    sa.bindparam("prune", type_=sa.Integer),
)


@dataclass(frozen=True)
class Hit:
    count: int  # hits in the window so far, this one included
    retry_after: int  # whole seconds until the window ends (at least 1)


def hit(conn: sa.Connection, bucket: str, window: int) -> Hit:
    """Count one hit on ``bucket`` (a window is ``window`` seconds) and commit it."""
    row = conn.execute(_hit, {"bucket": bucket, "window": window, "prune": PRUNE}).one()
    conn.commit()
    return Hit(row.hits, max(1, math.ceil(row.remaining)))


def client_address() -> str:
    """REMOTE_ADDR, an IPv6 address as its /64; "local" for a unix socket."""
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "local"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def enforce(name: str) -> None:
    """Count this request against the limit ``name`` (settings ``<NAME>_LIMIT`` and
    ``<NAME>_WINDOW``) for the client's address; 429 with Retry-After past the limit."""
    limit = current_app.config[f"{name}_LIMIT"]
    window = current_app.config[f"{name}_WINDOW"]
    address = client_address()
    counted = hit(connection(), f"{name.lower()}:{address}", window)
    if counted.count > limit:
        action = name.lower()
        raise ApiError(
            429,
            "rate_limited",
            f"too many {action} attempts from your address ({limit} per {window} s): "
            f"retry in {counted.retry_after} s",
            {"limit": limit, "window_seconds": window, "retry_after": counted.retry_after},
            headers={"Retry-After": str(counted.retry_after)},
        )
