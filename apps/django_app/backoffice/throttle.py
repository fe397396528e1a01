"""Failed admin logins, limited per username and per client address, in the database.

Every attempt is counted *before* the password is checked, in one statement that bumps
both of its buckets (``username:<name>``, ``address:<ip>``) and returns their counts:
concurrent attempts queue on the buckets' rows, so no more than the limit of passwords
are ever tried in a window, however many requests race. A successful login then takes
its attempt back: the username's count starts over and the address's drops by one. So
what is left counted is exactly the failures.

A window is fixed and starts with its bucket's first counted attempt; past the limit, a
login is refused (without checking the password) until the window ends. The same
statement deletes a few buckets whose window has ended.

The client address is REMOTE_ADDR as the WSGI server gives it (behind a proxy, gunicorn's
PROXY protocol support sets it from the proxy); an IPv6 client is its /64.
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from apps.django_app.backoffice.models import LoginFailure

TABLE = LoginFailure._meta.db_table
PRUNE = 10  # ended buckets one attempt deletes, at most

_COUNT = f"""
    WITH pruned AS (
        DELETE FROM {TABLE}
         WHERE bucket IN (
               SELECT bucket FROM {TABLE}
                WHERE window_ends <= now() AND bucket <> ALL(%(buckets)s)
                ORDER BY window_ends
                LIMIT %(prune)s
                  FOR UPDATE SKIP LOCKED)
    )
    INSERT INTO {TABLE} AS f (bucket, window_ends, failures)
    SELECT bucket, now() + make_interval(secs => %(window)s), 1
      FROM unnest(%(buckets)s::text[]) WITH ORDINALITY AS b(bucket, n)
     ORDER BY n
    ON CONFLICT (bucket) DO UPDATE
       SET failures = CASE WHEN f.window_ends > now() THEN f.failures + 1 ELSE 1 END,
           window_ends = CASE WHEN f.window_ends > now() THEN f.window_ends
                              ELSE excluded.window_ends END
    RETURNING bucket, failures, extract(epoch FROM window_ends - now())
"""
_FORGIVE = f"""
    UPDATE {TABLE}
       SET failures = CASE WHEN bucket = %(username)s THEN 0 ELSE failures - 1 END
     WHERE bucket IN (%(username)s, %(address)s) AND failures > 0
"""


@dataclass(frozen=True)
class Attempt:
    username: str  # the buckets
    address: str
    allowed: bool  # within both limits: check the password
    retry_after: int  # when refused, whole seconds until the attempt may be retried


def client_address(remote_addr: str | None) -> str:
    """REMOTE_ADDR, an IPv6 address as its /64; "local" for a unix socket."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return "local"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def buckets(username: str, remote_addr: str | None) -> tuple[str, str]:
    # Usernames compare as Django's ModelBackend does, only coarser (case and width folded):
    # a name spelled differently is never a way around its count.
    name = unicodedata.normalize("NFKC", username).casefold()
    return f"username:{name}", f"address:{client_address(remote_addr)}"


def count_attempt(username: str, remote_addr: str | None) -> Attempt:
    """Count a login attempt (committed at once, whatever happens next) and say whether
    its password may be checked."""
    by_username, by_address = buckets(username, remote_addr)
    limits = {
        by_username: settings.BACKOFFICE_LOGIN_LIMIT_PER_USERNAME,
        by_address: settings.BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNT,
            {
                "buckets": [by_username, by_address],
                "window": settings.BACKOFFICE_LOGIN_WINDOW,
                "prune": PRUNE,
            },
        )
        rows = cursor.fetchall()
    over = [
        max(1, math.ceil(remaining))
        for bucket, failures, remaining in rows
        if failures > limits[bucket]
    ]
    return Attempt(by_username, by_address, not over, max(over, default=0))


def forgive(attempt: Attempt) -> None:
    """The attempt logged in: it was no failure."""
    with connection.cursor() as cursor:
        cursor.execute(_FORGIVE, {"username": attempt.username, "address": attempt.address})
