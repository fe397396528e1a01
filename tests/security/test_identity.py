"""Red team: staff sessions (identity, 0006) against an app role whose credentials are stolen.

The storefront may only look a session up by the hash of its key: it cannot list them,
read the table, begin one or keep one alive. The back office starts and ends sessions only
through its functions: it cannot read them, take one over, extend one, or end one with a
plain DELETE. A grant made by mistake opens nothing (each function checks its caller's
app), and reconciliation takes it back.
"""

from __future__ import annotations

import pytest
from psycopg import errors, sql

from schema import roles
from schema.rules import CALLER_NOT_ALLOWED
from tests.data import key_hash

EXPIRES = "now() + interval '1 hour'"
BEGIN = f"SELECT identity.begin_staff_session(%s, 99, 'mallory', true, '{{}}', {EXPIRES})"


@pytest.fixture
def session(shop):
    """A live staff session: (its key, its user's id)."""
    return shop.staff_session(42, "grace"), 42


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM identity.staff_sessions",
        "SELECT count(*) FROM identity.staff_sessions",
        "UPDATE identity.staff_sessions SET expires_at = now() + interval '1 year'",
        "DELETE FROM identity.staff_sessions",
        "INSERT INTO identity.staff_sessions (key_hash, user_id, username, is_superuser,"
        f" permissions, expires_at) VALUES ('{'0' * 64}', 1, 'x', true, '{{}}', {EXPIRES})",
        "TRUNCATE identity.staff_sessions",
        BEGIN,
        "SELECT identity.end_staff_session('{hash}')",
        "SELECT identity.end_user_staff_sessions(42)",
    ],
)
def test_the_storefront_may_only_look_a_session_up(fresh_db, shop, session, statement):
    key, user_id = session
    with fresh_db.connect("storefront", autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            params = [key_hash("new")] if "%s" in statement else None
            conn.execute(statement.replace("{hash}", key_hash(key)), params)
    assert shop.staff_sessions(user_id) == 1 and shop.staff_sessions() == 1


def test_the_storefront_cannot_enumerate_sessions_through_the_lookup(fresh_db, session):
    key, _user_id = session
    digest = key_hash(key)
    with fresh_db.connect("storefront", autocommit=True) as conn:
        for probe in ("%", "_" * 64, digest[:63] + "%", digest.upper(), f"{digest}' OR true --"):
            assert (
                conn.execute("SELECT * FROM identity.staff_session(%s)", [probe]).fetchall() == []
            )
        assert (
            len(conn.execute("SELECT * FROM identity.staff_session(%s)", [digest]).fetchall()) == 1
        )


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM identity.staff_sessions",
        "SELECT * FROM identity.staff_session('{hash}')",
        # extend a session, or end one without knowing its key
        "UPDATE identity.staff_sessions SET expires_at = now() + interval '1 year'",
        "DELETE FROM identity.staff_sessions WHERE key_hash = '{hash}'",
        "DELETE FROM identity.staff_sessions",
    ],
)
def test_the_back_office_works_sessions_only_through_its_functions(
    fresh_db, shop, session, statement
):
    key, user_id = session
    with fresh_db.connect("backoffice", autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement.replace("{hash}", key_hash(key)))
    assert shop.staff_sessions(user_id) == 1


def test_the_back_office_cannot_take_over_or_extend_a_session(fresh_db, shop, session):
    key, user_id = session
    with fresh_db.connect("backoffice", autocommit=True) as conn:
        with pytest.raises(errors.CheckViolation) as refused:
            conn.execute(BEGIN, [key_hash(key)])
    assert refused.value.diag.message_primary == "staff_session_exists"
    with fresh_db.connect("storefront", autocommit=True) as conn:
        found = conn.execute(
            "SELECT user_id, username, is_superuser FROM identity.staff_session(%s)",
            [key_hash(key)],
        ).fetchall()
    assert found == [(user_id, "grace", False)]


def test_the_back_office_cannot_mint_a_session_that_outlives_31_days(fresh_db, shop):
    with fresh_db.connect("backoffice", autocommit=True) as conn:
        with pytest.raises(errors.CheckViolation):
            conn.execute(
                "SELECT identity.begin_staff_session(%s, 1, 'x', true, '{}',"
                " now() + interval '10 years')",
                [key_hash("forever")],
            )
    assert shop.staff_sessions() == 0


@pytest.mark.parametrize(
    ("role", "function", "call"),
    [
        ("storefront", roles.BEGIN_STAFF_SESSION, BEGIN),
        (
            "storefront",
            roles.END_USER_STAFF_SESSIONS,
            "SELECT identity.end_user_staff_sessions(42)",
        ),
        ("backoffice", roles.STAFF_SESSION, "SELECT * FROM identity.staff_session(%s)"),
        ("reporting", roles.STAFF_SESSION, "SELECT * FROM identity.staff_session(%s)"),
    ],
)
def test_a_mistaken_grant_opens_nothing_and_reconciliation_takes_it_back(
    fresh_db, pg, shop, session, role, function, call
):
    """Each function asks which app its caller is (shop.app_roles, by session_user): EXECUTE
    granted to the wrong role is refused inside; `check` reports it; `migrate` revokes it."""
    key, user_id = session
    grantee = pg.prefix + role
    with fresh_db.connect(autocommit=True) as owner:
        owner.execute(
            sql.SQL(
                "GRANT USAGE ON SCHEMA identity TO {}; GRANT EXECUTE ON FUNCTION {} TO {}"
            ).format(sql.Identifier(grantee), sql.SQL(function), sql.Identifier(grantee))
        )
    with fresh_db.connect(role, autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege) as refused:
            conn.execute(call, [key_hash(key)] if "%s" in call else None)
    assert refused.value.diag.message_primary == CALLER_NOT_ALLOWED
    assert shop.staff_sessions(user_id) == 1 and shop.staff_sessions() == 1

    drift = roles.drift(fresh_db.owner_url, pg.prefix)  # what `mergepoint check` reports
    assert f"undeclared EXECUTE: {grantee} may run {function}" in drift
    report = roles.reconcile(fresh_db.owner_url, pg.prefix)
    assert f'REVOKE EXECUTE ON FUNCTION {function} FROM "{grantee}"' in report.changes
    assert roles.drift(fresh_db.owner_url, pg.prefix) == []


def test_execute_granted_to_public_is_drift_and_is_revoked(fresh_db, pg):
    function = roles.STAFF_SESSION
    with fresh_db.connect(autocommit=True) as owner:
        owner.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO PUBLIC").format(sql.SQL(function)))
    drift = roles.drift(fresh_db.owner_url, pg.prefix)  # what `mergepoint check` reports
    assert f"undeclared EXECUTE: PUBLIC may run {function}" in drift
    report = roles.reconcile(fresh_db.owner_url, pg.prefix)
    assert f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC" in report.changes
    assert ("", function) not in roles.executes(fresh_db.owner_url, pg.prefix)


def test_a_role_without_usage_on_identity_cannot_reach_it(fresh_db, session):
    key, _user_id = session
    with fresh_db.connect("reporting") as conn:
        with pytest.raises(errors.InsufficientPrivilege, match="schema identity"):
            conn.execute("SELECT * FROM identity.staff_session(%s)", [key_hash(key)])
