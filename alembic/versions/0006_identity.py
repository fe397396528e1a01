"""identity: staff sessions the back office starts and ends, the storefront looks up by hash

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

Staff log in to the back office (Django's own sessions, its ``sessionid`` cookie); with
both apps under one host the storefront receives that cookie too, and may know who is
staff without importing the back office or sharing a secret with it:

* ``identity.staff_sessions`` holds one row per logged-in staff session, keyed by the
  sha256 (hex) of the back office's session key (never the key itself: a row read from
  here cannot be replayed as a cookie), with the user, their permissions and an expiry.
  No app role may read or write it.
* The back office writes it only through ``begin_staff_session`` (on login),
  ``end_staff_session`` (on logout, or when its session row goes) and
  ``end_user_staff_sessions`` (a password changed, a user deactivated or no longer staff,
  a permission taken away); the storefront only through ``staff_session``, which returns
  the one unexpired session with that hash, never a list.
* Each is SECURITY DEFINER with a fixed search_path, EXECUTE revoked from PUBLIC (granted
  per role by schema/roles.py), and checks its caller's app in ``shop.app_roles``
  (session_user, which no app can change), so a grant made by mistake opens nothing.
* The functions never read the back office's own tables: ``backoffice`` belongs to the
  back office's role, and a view or function it put there would run as the owner here.
  So the database checks the shape of what it is told (a sha256, a bounded expiry, Django
  permission names), not who is staff: the back office is the authority on its users.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

# The longest a staff session may last (Django's default session age is 14 days).
MAX_AGE = "31 days"


def _caller(app: str) -> str:
    return f"""
    IF shop.writer_app() IS DISTINCT FROM '{app}' THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'staff_session_caller_not_allowed',
            DETAIL = format('role=%s allowed={app}', session_user);
    END IF;"""


_INVALID = """RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'staff_session_invalid', DETAIL = """

# name: (arguments, returns, volatility, body)
FUNCTIONS = {
    "begin_staff_session": (
        "key_hash text, user_id bigint, username text, is_superuser boolean,"
        " permissions text[], expires_at timestamptz",
        "void",
        "VOLATILE",
        f"""
BEGIN{_caller("backoffice")}
    IF key_hash IS NULL OR key_hash !~ '^[0-9a-f]{{64}}$' THEN
        {_INVALID}'field=key_hash', HINT = 'the sha256 of the session key, in hex';
    END IF;
    IF user_id IS NULL OR username IS NULL OR length(username) NOT BETWEEN 1 AND 150 THEN
        {_INVALID}'field=username';
    END IF;
    IF is_superuser IS NULL THEN
        {_INVALID}'field=is_superuser';
    END IF;
    IF permissions IS NULL OR cardinality(permissions) > 1000
       OR array_position(permissions, NULL) IS NOT NULL
       OR EXISTS (SELECT 1 FROM unnest(permissions) p
                   WHERE p !~ '^[a-z0-9_]{{1,100}}\\.[a-z0-9_]{{1,100}}$')
    THEN
        {_INVALID}'field=permissions', HINT = 'Django permission names: app_label.codename';
    END IF;
    IF expires_at IS NULL OR expires_at <= now() OR expires_at > now() + interval '{MAX_AGE}' THEN
        {_INVALID}format('field=expires_at expires_at=%s', expires_at),
            HINT = 'in the future, at most {MAX_AGE} away';
    END IF;
    -- Expired sessions go as new ones come: the table holds about the live ones.
    DELETE FROM identity.staff_sessions s WHERE s.expires_at <= now();
    INSERT INTO identity.staff_sessions AS s
           (key_hash, user_id, username, is_superuser, permissions, expires_at)
    VALUES (begin_staff_session.key_hash, begin_staff_session.user_id,
            begin_staff_session.username, begin_staff_session.is_superuser,
            begin_staff_session.permissions, begin_staff_session.expires_at)
    ON CONFLICT ON CONSTRAINT pk_staff_sessions DO NOTHING;
    IF NOT FOUND THEN  -- a session is never taken over, nor extended
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'staff_session_exists',
            DETAIL = format('user_id=%s', begin_staff_session.user_id);
    END IF;
END""",
    ),
    "end_staff_session": (
        "key_hash text",
        "boolean",
        "VOLATILE",
        f"""
BEGIN{_caller("backoffice")}
    DELETE FROM identity.staff_sessions s WHERE s.key_hash = end_staff_session.key_hash;
    RETURN FOUND;
END""",
    ),
    "end_user_staff_sessions": (
        "user_id bigint",
        "integer",
        "VOLATILE",
        f"""
DECLARE
    ended integer;
BEGIN{_caller("backoffice")}
    DELETE FROM identity.staff_sessions s WHERE s.user_id = end_user_staff_sessions.user_id;
    GET DIAGNOSTICS ended = ROW_COUNT;
    RETURN ended;
END""",
    ),
    "staff_session": (
        "key_hash text",
        "TABLE (user_id bigint, username text, is_superuser boolean, permissions text[],"
        " expires_at timestamptz)",
        "STABLE",
        f"""
BEGIN{_caller("storefront")}
    RETURN QUERY
        SELECT s.user_id, s.username, s.is_superuser, s.permissions, s.expires_at
          FROM identity.staff_sessions s
         WHERE s.key_hash = staff_session.key_hash AND s.expires_at > now();
END""",
    ),
}


def upgrade() -> None:
    op.execute("CREATE SCHEMA identity")
    op.create_table(
        "staff_sessions",
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("permissions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "key_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_staff_sessions_key_hash_sha256_hex")
        ),
        sa.CheckConstraint(
            "length(username) BETWEEN 1 AND 150", name=op.f("ck_staff_sessions_username_length")
        ),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_staff_sessions")),
        schema="identity",
    )  # fmt: skip
    op.create_index(
        op.f("ix_staff_sessions_user_id"), "staff_sessions", ["user_id"], schema="identity"
    )
    op.create_index(
        op.f("ix_staff_sessions_expires_at"), "staff_sessions", ["expires_at"], schema="identity"
    )
    for name, (arguments, returns, volatility, body) in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION identity.{name}({arguments}) RETURNS {returns}"
            f" LANGUAGE plpgsql {volatility} {DEFINER} AS $fn${body}\n$fn$"
        )
        op.execute(f"REVOKE EXECUTE ON FUNCTION identity.{name}({arguments}) FROM PUBLIC")


def downgrade() -> None:
    for name, (arguments, _returns, _volatility, _body) in reversed(FUNCTIONS.items()):
        op.execute(f"DROP FUNCTION identity.{name}({arguments})")
    op.drop_table("staff_sessions", schema="identity")
    op.execute("DROP SCHEMA identity")
