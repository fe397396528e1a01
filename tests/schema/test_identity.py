"""identity (0006): staff sessions begun and ended by the back office, looked up by the
storefront one hash at a time; each function checks what it is told and who calls it."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from schema import roles
from tests.concurrency import race
from tests.data import key_hash

BEGIN = "SELECT identity.begin_staff_session(%s, %s, %s, %s, %s, {expires})"
LOOKUP = "SELECT user_id, username, is_superuser, permissions FROM identity.staff_session(%s)"


def lookup(conn: psycopg.Connection, key: str) -> list[tuple]:
    return conn.execute(LOOKUP, [key_hash(key)]).fetchall()


@pytest.fixture
def storefront(fresh_db):
    with fresh_db.connect("storefront", autocommit=True) as conn:
        yield conn


@pytest.fixture
def backoffice(fresh_db):
    with fresh_db.connect("backoffice", autocommit=True) as conn:
        yield conn


def test_the_storefront_finds_a_live_session_by_the_hash_of_its_key(shop, storefront):
    key = shop.staff_session(7, "grace", permissions=["backoffice.view_order"])
    assert lookup(storefront, key) == [(7, "grace", False, ["backoffice.view_order"])]
    assert lookup(storefront, "another-key") == []
    # The key itself is not the hash: only the hash finds it.
    assert storefront.execute(LOOKUP, [key]).fetchall() == []


def test_an_expired_session_is_not_found_and_goes_when_a_new_one_begins(shop, storefront, owner):
    key = shop.staff_session(7)
    owner.execute(
        "UPDATE identity.staff_sessions SET expires_at = now() - interval '1 second'"
        " WHERE key_hash = %s",
        [key_hash(key)],
    )
    assert lookup(storefront, key) == []
    assert shop.staff_sessions(7) == 1
    shop.staff_session(8)
    assert shop.staff_sessions(7) == 0 and shop.staff_sessions(8) == 1


def test_logout_ends_one_session_and_a_user_event_ends_all_of_theirs(shop, storefront, backoffice):
    first, second, other = shop.staff_session(7), shop.staff_session(7), shop.staff_session(8)
    ended = backoffice.execute("SELECT identity.end_staff_session(%s)", [key_hash(first)])
    assert ended.fetchone() == (True,)
    assert lookup(storefront, first) == [] and lookup(storefront, second) != []
    again = backoffice.execute("SELECT identity.end_staff_session(%s)", [key_hash(first)])
    assert again.fetchone() == (False,)

    count = backoffice.execute("SELECT identity.end_user_staff_sessions(7)").fetchone()
    assert count == (1,)
    assert lookup(storefront, second) == [] and lookup(storefront, other) != []


@pytest.mark.parametrize(
    ("arguments", "expires", "field"),
    [
        (["abc", 1, "u", False, []], "now() + interval '1 hour'", "key_hash"),
        ([key_hash("k").upper(), 1, "u", False, []], "now() + interval '1 hour'", "key_hash"),
        ([None, 1, "u", False, []], "now() + interval '1 hour'", "key_hash"),
        ([key_hash("k"), 1, "", False, []], "now() + interval '1 hour'", "username"),
        ([key_hash("k"), 1, "u" * 151, False, []], "now() + interval '1 hour'", "username"),
        ([key_hash("k"), None, "u", False, []], "now() + interval '1 hour'", "username"),
        ([key_hash("k"), 1, "u", None, []], "now() + interval '1 hour'", "is_superuser"),
        ([key_hash("k"), 1, "u", False, ["view_order"]], "now() + interval '1 hour'",
         "permissions"),
        ([key_hash("k"), 1, "u", False, ["a.b; DROP"]], "now() + interval '1 hour'",
         "permissions"),
        ([key_hash("k"), 1, "u", False, [None]], "now() + interval '1 hour'", "permissions"),
        ([key_hash("k"), 1, "u", False, None], "now() + interval '1 hour'", "permissions"),
        ([key_hash("k"), 1, "u", False, ["a.b"] * 1001], "now() + interval '1 hour'",
         "permissions"),
        ([key_hash("k"), 1, "u", False, []], "now()", "expires_at"),
        ([key_hash("k"), 1, "u", False, []], "now() - interval '1 day'", "expires_at"),
        ([key_hash("k"), 1, "u", False, []], "now() + interval '32 days'", "expires_at"),
        ([key_hash("k"), 1, "u", False, []], "NULL", "expires_at"),
    ],
)  # fmt: skip
def test_a_session_the_back_office_describes_badly_is_refused_naming_the_field(
    shop, backoffice, arguments, expires, field
):
    with pytest.raises(errors.CheckViolation) as refused:
        backoffice.execute(BEGIN.format(expires=expires), arguments)
    assert refused.value.diag.message_primary == "staff_session_invalid"
    assert refused.value.diag.message_detail.startswith(f"field={field}")
    assert shop.staff_sessions() == 0


def test_the_longest_session_is_31_days(shop, backoffice):
    backoffice.execute(
        BEGIN.format(expires="now() + interval '31 days'"),
        [key_hash("k"), 1, "u", True, ["backoffice.view_order"]],
    )
    assert shop.staff_sessions(1) == 1


def test_concurrent_logins_with_one_key_start_one_session(fresh_db, shop):
    """Only one of many racing begins with the same key wins; the others are told so."""
    digest = key_hash("the-same-key")
    conns = [fresh_db.connect("backoffice", autocommit=True) for _ in range(6)]
    try:

        def begin(i: int) -> str:
            conns[i].execute(
                BEGIN.format(expires="now() + interval '1 hour'"),
                [digest, 100 + i, f"user{i}", False, []],
            )
            return "started"

        outcomes = race(len(conns), begin)
    finally:
        for conn in conns:
            conn.close()
    started = [o for o in outcomes if o == "started"]
    refused = [o for o in outcomes if isinstance(o, errors.CheckViolation)]
    assert len(started) == 1 and len(refused) == 5, outcomes
    assert {e.diag.message_primary for e in refused} == {"staff_session_exists"}
    assert shop.staff_sessions() == 1


def test_the_roles_hold_exactly_the_execute_grants_roles_py_declares(fresh_db, pg):
    held = roles.executes(fresh_db.owner_url, pg.prefix)
    consume = {
        (f"{pg.prefix}{app}", f)
        for app in ("storefront", "backoffice")
        for f in (*roles.CONSUMES, *roles.WORKER_CALLS)  # events, and the task queue
    }
    assert held - consume == {
        (f"{pg.prefix}storefront", roles.STAFF_SESSION),
        (f"{pg.prefix}backoffice", roles.BEGIN_STAFF_SESSION),
        (f"{pg.prefix}backoffice", roles.END_STAFF_SESSION),
        (f"{pg.prefix}backoffice", roles.END_USER_STAFF_SESSIONS),
    }  # and nothing for PUBLIC, on any function of shop, reporting, events or identity
    assert consume <= held
