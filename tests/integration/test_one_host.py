"""One host: both apps behind one address, the storefront at /, the back office at
/backoffice/, on its own (`gunicorn apps.onehost:application`), and the options of
`mergepoint up --one-host` (which test_browser_one_host.py runs in a real browser)."""

from __future__ import annotations

import re
import socket

import httpx
import pytest
from click.testing import CliRunner
from django.contrib.auth.hashers import make_password

from schema.cli import main
from tests.data import Shop
from tests.integration.support import admin_login, app_env
from tests.reliability.conftest import assert_no_traceback, gunicorn


def csrf_post(client: httpx.Client, base: str, path: str, page: str) -> httpx.Response:
    """POST to ``path`` with the CSRF token of the form at ``page`` (both on ``base``)."""
    form = client.get(base + page)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    return client.post(
        base + path,
        data={"csrfmiddlewaretoken": token},
        headers={"Origin": base, "Referer": base + page},
    )


def staff_user(database) -> None:
    """The staff user admin_login logs in as, written as the back office writes users."""
    with database.connect("backoffice", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO backoffice.auth_user (password, is_superuser, username, first_name,"
            " last_name, email, is_staff, is_active, date_joined)"
            " VALUES (%s, true, 'staff', '', '', '', true, true, now())",
            [make_password("correct-horse-battery")],
        )


@pytest.mark.slow
def test_onehost_serves_both_apps_at_one_address(fresh_db, tmp_path):
    shop = Shop(fresh_db)
    try:
        shop.product("TEA-ONE", price=450, stock=7)
    finally:
        shop.close()
    staff_user(fresh_db)
    env = app_env(fresh_db)
    log = tmp_path / "one-host.log"
    with gunicorn("apps.onehost:application", env, log, probe="/readyz", threads=4) as server:
        base = server.base
        with httpx.Client(timeout=30) as anonymous:
            # The storefront at the root, its API and document unchanged.
            product = anonymous.get(f"{base}/api/products/TEA-ONE")
            assert (product.status_code, product.json()["price_cents"]) == (200, 450)
            assert anonymous.get(f"{base}/openapi.json").json()["servers"] == [{"url": "/"}]
            # The back office under /backoffice: redirects, links and static files follow.
            admin = anonymous.get(f"{base}/backoffice/admin/")
            assert admin.status_code == 302
            assert admin.headers["location"] == "/backoffice/admin/login/?next=/backoffice/admin/"
            login = anonymous.get(f"{base}/backoffice/admin/login/")
            assert 'href="/backoffice/static/admin/css/base.css"' in login.text
            css = anonymous.get(f"{base}/backoffice/static/admin/css/base.css")
            assert (css.status_code, css.headers["content-type"].split(";")[0]) == (
                200,
                "text/css",
            )
            unmounted = anonymous.get(f"{base}/static/admin/css/base.css")  # the storefront's
            assert (unmounted.status_code, unmounted.json()["error"]["code"]) == (404, "not_found")
            assert anonymous.get(f"{base}/backoffice/readyz").json() == {"status": "ready"}
            staff = anonymous.get(f"{base}/api/staff/me")
            assert staff.status_code == 401

        # Staff log in through the form (CSRF) and the storefront knows them, until logout.
        with httpx.Client(timeout=30) as staff:
            admin_login(staff, base, "/backoffice")
            me = staff.get(f"{base}/api/staff/me")
            assert (me.status_code, me.json()["username"]) == (200, "staff")
            assert staff.get(f"{base}/api/staff/orders").json() == {"items": [], "next": None}
            old = staff.cookies["sessionid"]
            logout = csrf_post(staff, base, "/backoffice/admin/logout/", "/backoffice/admin/")
            assert logout.status_code == 200
        with httpx.Client(timeout=30, cookies={"sessionid": old}) as replay:
            assert replay.get(f"{base}/api/staff/me").status_code == 401

        # A login with a forged origin is refused: CSRF holds under the prefix.
        with httpx.Client(timeout=30) as forger:
            forged = forger.post(
                f"{base}/backoffice/admin/login/",
                data={"username": "x", "password": "y"},
                headers={"Origin": "http://evil.test"},
            )
            assert forged.status_code == 403

    assert_no_traceback(server)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--one-host", "--storefront-port", "9000"], "--storefront-port does not go with"),
        (["--one-host", "--backoffice-port", "9001"], "--backoffice-port does not go with"),
        (["--port", "9000"], "--port goes with --one-host"),
    ],
)
def test_up_refuses_port_options_that_do_not_go_together(args, message):
    result = CliRunner().invoke(main, ["up", *args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_up_one_host_refuses_a_port_in_use_naming_the_option(up_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["up", "--one-host", "--port", str(port)], env=up_env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is not available (Address already in use);"
        " choose another with --port PORT"
    ]
