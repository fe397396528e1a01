"""Staff, known through the database: the back office's session cookie, looked up by hash.

The back office begins a staff session in the shared schema's ``identity`` namespace when
someone logs in (keyed by the sha256 of its session key) and ends it on logout, and when
their password, status or permissions change. Under one host its ``sessionid`` cookie
(path ``/``) reaches the storefront too: we hash the cookie and ask
``identity.staff_session`` for that one session. We cannot list sessions, begin one or
keep one alive (our role may only call that function), and we import nothing of the back
office and share no secret with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, request

from apps.flask_app.errors import ApiError

COOKIE = "sessionid"  # the back office's SESSION_COOKIE_NAME (Django's default)
_MAX_COOKIE = 256  # Django's keys are 32 characters; anything far longer is not one

# The one function the role may call in identity (tables.STAFF_SESSION).
_lookup = sa.text(
    "SELECT user_id, username, is_superuser, permissions, expires_at"
    " FROM identity.staff_session(:key_hash)"
)


@dataclass(frozen=True)
class StaffSession:
    user_id: int
    username: str
    is_superuser: bool
    permissions: frozenset[str]
    expires_at: datetime

    def has_perm(self, permission: str) -> bool:
        """As Django's ``user.has_perm``: a superuser has every permission."""
        return self.is_superuser or permission in self.permissions


def key_hash(session_key: str) -> str:
    return hashlib.sha256(session_key.encode("utf-8", "surrogateescape")).hexdigest()


def login_required() -> ApiError:
    return ApiError(
        401,
        "staff_login_required",
        "log in to the back office on this host first: this endpoint reads its session"
        f" cookie ({current_app.config['STAFF_SESSION_COOKIE']}), which is missing, logged"
        " out or expired",
    )


def lookup(conn: sa.Connection, session_key: str | None) -> StaffSession | None:
    """The live staff session of this back-office session key, if there is one."""
    if not session_key or len(session_key) > _MAX_COOKIE:
        return None
    row = conn.execute(_lookup, {"key_hash": key_hash(session_key)}).one_or_none()
    if row is None:
        return None
    return StaffSession(
        user_id=row.user_id,
        username=row.username,
        is_superuser=row.is_superuser,
        permissions=frozenset(row.permissions),
        expires_at=row.expires_at,
    )


def require(conn: sa.Connection, permission: str | None = None) -> StaffSession:
    """The request's staff session (401 without one), holding ``permission`` (else 403)."""
    session = lookup(conn, request.cookies.get(current_app.config["STAFF_SESSION_COOKIE"]))
    if session is None:
        raise login_required()
    if permission is not None and not session.has_perm(permission):
        raise ApiError(
            403,
            "staff_permission_required",
            f"{session.username} may not do this: it needs the back office's"
            f" {permission} permission",
            {"permission": permission},
        )
    return session
