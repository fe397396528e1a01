"""Staff sessions in the shared schema: the back office tells the database who is logged in.

The storefront may know staff (under one host it receives our ``sessionid`` cookie) without
importing us or sharing a secret: on login we begin a staff session in the shared schema's
``identity`` namespace, keyed by the sha256 of our session key, with the user's name,
permissions and the session's expiry; on logout we end it. The storefront looks one up by
the hash of the cookie it received, and can do nothing else there.

Ending sessions when a user changes is not left to Python signals, which a queryset
``update()``, ``manage.py shell`` or plain SQL would bypass: triggers on our own tables
(migration 0003) end a user's staff sessions whenever their password, username, active,
staff or superuser status changes, a group or permission is taken from them (or from
their group), the user is deleted, or a session row is deleted (logout, a key cycled on a
password change, ``clearsessions``) — whoever writes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

# The shared schema's functions we call (regprocedure text; part of our contract).
BEGIN = "identity.begin_staff_session(text,bigint,text,boolean,text[],timestamp with time zone)"
END = "identity.end_staff_session(text)"
END_USER = "identity.end_user_staff_sessions(bigint)"
CALLS = (BEGIN, END, END_USER)

# The database refuses a staff session longer than 31 days; a longer Django session is
# known to the storefront for its first 30.
MAX_AGE = timedelta(days=30)


def key_hash(session_key: str) -> str:
    """What identity stores: the sha256 of the session key, in hex (never the key)."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def begin(user: Any, session_key: str, expires_at: datetime) -> bool:
    """Begin the staff session of ``session_key`` for ``user``, as they are now.

    Under the user's row lock (FOR NO KEY UPDATE, which any change of the row and the
    permission triggers take too): a change that committed first is seen here (no session
    for a user no longer active staff, or whose password changed since they authenticated;
    the permissions as they are now), and a change that comes later waits for us, then
    its trigger ends what we began. Returns whether a session began.
    """
    User = get_user_model()
    with transaction.atomic():
        current = (
            User.objects.select_for_update(no_key=True)
            .filter(pk=user.pk, is_active=True, is_staff=True, password=user.password)
            .first()
        )
        if current is None:
            return False
        permissions = sorted(current.get_all_permissions())
        expires_at = min(expires_at, timezone.now() + MAX_AGE)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT identity.begin_staff_session(%s, %s, %s, %s, %s, %s)",
                [key_hash(session_key), current.pk, current.get_username(),
                 current.is_superuser, permissions, expires_at],
            )  # fmt: skip
    return True


def end(session_key: str) -> bool:
    """End the staff session of ``session_key``; whether there was one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT identity.end_staff_session(%s)", [key_hash(session_key)])
        row = cursor.fetchone()
    return bool(row and row[0])


def on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in``: the session key is new (login cycles it) and saved."""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None:
        return
    begin(user, session.session_key, session.get_expiry_date())


def on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_out``: sent before the session is flushed, so its key is still known
    (the flush deletes the session row, whose trigger would end it too)."""
    session = getattr(request, "session", None)
    if session is not None and session.session_key is not None:
        end(session.session_key)
