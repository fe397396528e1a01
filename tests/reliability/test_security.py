"""Bad input and least privilege, against the running apps and the real roles.

Already covered elsewhere, not repeated here: schemathesis over /openapi.json with every
check and zero 5xx (tests/flask_app/test_fuzz.py); SQL in a report's text parameter run
in process (tests/reports/test_security.py); the settings' own rules (DEBUG off by default,
no secret key outside DEBUG, one line from manage.py: tests/django_app/test_settings.py);
logged-out admin pages redirect to the login in Django's test client
(tests/django_app/test_admin.py); the storefront role refused django_session
(tests/schema/test_roles.py). Here: the same promises where a user meets them, through
gunicorn, the CLI and real role connections.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import psycopg
import pytest
from psycopg import errors, sql

from schema import roles
from tests.data import Shop
from tests.reliability.conftest import (
    BACKOFFICE_WSGI,
    ROOT,
    admin_login,
    call,
    csrf_token,
    make_clerk,
    mergepoint,
    minimal_env,
    report,
)

INJECTIONS = (
    "' OR '1'='1",
    "' OR 1=1 --",
    "%' OR sku LIKE '%",
    "'; DROP TABLE shop.products; --",
    "x'); DELETE FROM shop.products; --",
    "' UNION SELECT email, name, 0, 0 FROM shop.customers --",
    "1; SELECT pg_sleep(5)",
    "\\'; TRUNCATE shop.stock_movements; --",
    "%(q)s",
    ":q",
    "$1",
    "%",
    "_",
)


def counts(conn: psycopg.Connection) -> tuple[int, ...]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM shop.products), (SELECT count(*) FROM shop.customers),"
        " (SELECT count(*) FROM shop.orders), (SELECT count(*) FROM shop.order_lines),"
        " (SELECT count(*) FROM shop.stock_movements)"
    ).fetchone()


@pytest.mark.slow
def test_sql_in_storefront_search_and_paths_is_only_text(owner, shop, storefront, http):
    shop.product("TEA-1", price=450, stock=5)
    shop.product("MUG-1", price=1200, stock=5)
    hidden = shop.product("OLD-1", price=100, stock=5)
    owner.execute("UPDATE shop.products SET active = false WHERE id = %s", [hidden])
    owner.execute("INSERT INTO shop.customers (email, name) VALUES ('eve@example.com', 'Eve')")
    before = counts(owner)
    base = storefront.base

    def skus(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [p["sku"] for p in response.json()["items"]]

    assert skus(http.get(f"{base}/api/products", params={"q": "tea"})) == ["TEA-1"]
    for attempt in INJECTIONS:
        found = call(http, "search", "GET", f"{base}/api/products", params={"q": attempt})
        # None of them is a substring of a sku or a name: nothing matches, nothing runs.
        assert (found.status, found.body) == (200, {"items": [], "next": None}), attempt
        assert found.seconds < 2, attempt  # pg_sleep never ran
        paged = http.get(f"{base}/api/products", params={"after": attempt})
        assert set(skus(paged)) <= {"MUG-1", "TEA-1"}, attempt  # never the inactive one
        one = call(http, "sku", "GET", f"{base}/api/products/{attempt}")
        assert one.is_json and one.status == 404, (attempt, one)
        who = call(http, "me", "GET", f"{base}/api/customers/me",
                   headers={"Authorization": f"Bearer {attempt}"})  # fmt: skip
        assert (who.status, who.code) == (401, "unauthorized"), (attempt, who)
    assert counts(owner) == before


@pytest.mark.slow
def test_sql_in_report_parameters_has_no_effect(fresh_db, owner, shop):
    tea = shop.product("TEA-1", price=450, stock=20)
    mug = shop.product("MUG-1", price=1200, stock=20)
    shop.order({tea: 3, mug: 1}, customer=shop.customer("r@example.com", "R"))
    before = counts(owner)
    top = report(fresh_db, "top_products")
    assert [(r["sku"], r["units"], r["revenue_cents"]) for r in top] == [
        ("TEA-1", 3, 1350),
        ("MUG-1", 1, 1200),
    ]

    hostile = [
        ("tz", "UTC'; DROP TABLE shop.orders; --", "time zone"),
        ("limit", "1; DROP TABLE shop.orders", "limit"),
        ("limit", "1 OR 1=1", "limit"),
        ("date_from", "today'; DELETE FROM shop.orders; --", "date_from"),
        ("date_to", "2026-01-01' OR '1'='1", "date_to"),
        ("limit) FROM shop.customers; --", "1", "limit) FROM shop.customers; --"),
    ]
    for name, value, named in hostile:
        result = mergepoint(fresh_db, "report", "run", "top_products", "--param",
                            f"{name}={value}", "--format", "json")  # fmt: skip
        assert result.returncode != 0, (name, value, result.stdout)
        assert result.stdout == "", (name, value)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0], (name, value, result.stderr)
        assert "Traceback" not in result.stderr
    # Text that only looks like SQL in a text parameter is a value like any other.
    assert report(fresh_db, "low_stock", "threshold=100", "sku_prefix=' OR '1'='1") == []
    # PostgreSQL would read "UTC' OR '1'='1" as a POSIX zone spec and shift the days
    # silently: the runner takes IANA names only, so it is refused by name.
    shifted = mergepoint(fresh_db, "report", "run", "top_products", "--param", "tz=UTC' OR '1'='1")
    assert shifted.returncode == 1 and "parameter tz: expected time zone" in shifted.stderr
    assert report(fresh_db, "top_products") == top
    assert counts(owner) == before


@pytest.mark.parametrize("role", ["storefront", "reporting"])
def test_other_roles_cannot_read_the_back_offices_tables(pg, fresh_db, owner, role):
    tables = [
        name
        for (name,) in owner.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'backoffice' ORDER BY 1"
        ).fetchall()
    ]
    assert {"auth_user", "django_session", "auth_permission"} <= set(tables)
    with fresh_db.connect(role, autocommit=True) as conn:
        usage = conn.execute("SELECT has_schema_privilege('backoffice', 'USAGE')").fetchone()
        assert usage == (False,)
        for table in tables:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(
                    sql.SQL("SELECT * FROM backoffice.{} LIMIT 1").format(sql.Identifier(table))
                )
        # Nor may it become the back office's role.
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                sql.SQL("SET ROLE {}").format(
                    sql.Identifier(roles.role_name(pg.prefix, "backoffice"))
                )
            )


def order_placed(shop: Shop) -> int:
    return shop.order({shop.product("CSRF-1", price=500, stock=5): 1})


@pytest.mark.slow
def test_the_admin_under_gunicorn_needs_a_login_and_a_csrf_token(
    fresh_db, owner, shop, backoffice
):
    base, orders = backoffice.base, f"{backoffice.base}/admin/backoffice/order/"
    oid = order_placed(shop)
    clerk, password = make_clerk(fresh_db)

    def status() -> str:
        return owner.execute("SELECT status FROM shop.orders WHERE id = %s", [oid]).fetchone()[0]

    with httpx.Client(timeout=30) as anonymous:
        pages = ("/admin/", "/admin/backoffice/order/", f"/admin/backoffice/order/{oid}/change/",
                 "/admin/backoffice/product/restock/?ids=1", "/admin/auth/user/")  # fmt: skip
        for page in pages:
            response = anonymous.get(base + page)
            assert response.status_code == 302, page
            assert response.headers["location"].startswith("/admin/login/?next="), page
        # DEBUG is off: a 404 and a CSRF failure are the plain pages, nothing of the code.
        missing = anonymous.get(f"{base}/no/such/page/")
        assert missing.status_code == 404
        assert "URLconf" not in missing.text and "Traceback" not in missing.text
        forged = anonymous.post(f"{base}/admin/login/", data={"username": clerk,
                                                             "password": password})  # fmt: skip
        assert forged.status_code == 403
        assert "More information is available with DEBUG=True" in forged.text
        assert "sessionid" not in anonymous.cookies

    with httpx.Client(timeout=30) as staff:
        admin_login(staff, base, clerk, password)
        action = {"action": "cancel", "_selected_action": str(oid), "index": "0"}
        attempts = {
            "no token": ({}, {}),
            "a wrong token": ({"csrfmiddlewaretoken": "x" * 32}, {}),
            "another site's origin": (
                {"csrfmiddlewaretoken": csrf_token(staff)},
                {"Origin": "http://evil.example"},
            ),
        }
        for what, (token, headers) in attempts.items():
            response = staff.post(orders, data={**action, **token}, headers=headers)
            assert response.status_code == 403, what
            assert status() == "placed", what
        # The same request with the session's token goes through.
        response = staff.post(orders, data={**action, "csrfmiddlewaretoken": csrf_token(staff)})
        assert response.status_code == 302
        assert status() == "cancelled"
        page = staff.get(orders)
        assert page.headers["x-frame-options"] == "DENY"
        assert "cancelled" in page.text


@pytest.mark.slow
def test_the_back_office_will_not_start_without_a_secret_key_in_one_line(fresh_db):
    """As production starts it (gunicorn on the WSGI module), DEBUG not set."""
    env = minimal_env(BACKOFFICE_DATABASE_URL=fresh_db.url("backoffice"))
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--no-control-socket",
         BACKOFFICE_WSGI],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output, output
    mentions = [line for line in output.splitlines() if "DJANGO_SECRET_KEY" in line]
    assert mentions == [
        "error: DJANGO_SECRET_KEY is not set: set it to a long random string"
        " (or DJANGO_DEBUG=1 for development)"
    ], output
