"""One host: both apps behind one address, the storefront at /, the back office at
/backoffice/ — on its own (`gunicorn apps.onehost:application`) and under
`mergepoint up --one-host`. Staff are known to the storefront through the database."""

from __future__ import annotations

import re
import socket

import httpx
import psutil
import pytest
from click.testing import CliRunner

from schema.cli import main
from tests.data import Shop
from tests.integration.support import Up, admin_login, app_env, gunicorn
from tests.support import free_port


def csrf_post(client: httpx.Client, base: str, path: str, page: str) -> httpx.Response:
    """POST to ``path`` with the CSRF token of the form at ``page`` (both on ``base``)."""
    form = client.get(base + page)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    return client.post(
        base + path,
        data={"csrfmiddlewaretoken": token},
        headers={"Origin": base, "Referer": base + page},
    )


def test_onehost_serves_both_apps_at_one_address(fresh_db, tmp_path):
    shop = Shop(fresh_db)
    try:
        shop.product("TEA-ONE", price=450, stock=7)
    finally:
        shop.close()
    env = app_env(fresh_db)
    with gunicorn("apps.onehost:application", env, tmp_path / "one-host.log", "/readyz") as base:
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

        # A login with a forged origin is refused: CSRF holds under the prefix.
        with httpx.Client(timeout=30) as forger:
            forged = forger.post(
                f"{base}/backoffice/admin/login/",
                data={"username": "x", "password": "y"},
                headers={"Origin": "http://evil.test"},
            )
            assert forged.status_code == 403

    assert "Traceback" not in (tmp_path / "one-host.log").read_text()


@pytest.mark.slow
def test_up_one_host_knows_staff_through_the_database_and_stops_cleanly(fresh_db, up_env):
    port = free_port()
    up = Up(up_env, "--one-host", "--port", str(port), "--no-seed")
    try:
        up.wait_for(r"mergepoint is up")
        base = f"http://127.0.0.1:{port}"
        output = "\n".join(up.lines)
        assert f"back office  {base}/backoffice/admin/" in output
        assert f"staff API    {base}/api/staff/me" in output
        assert re.search(r"^\s+one-host \| .*Listening at: ", output, re.M), output
        children = psutil.Process(up.process.pid).children(recursive=True)
        servers = [p for p in children if "apps.onehost:application" in " ".join(p.cmdline())]
        assert len(servers) == len(children) == 3  # one gunicorn: a master, two workers

        shop = Shop(fresh_db)
        try:
            sku = "PANEL-1"
            pid = shop.product(sku, price=1250, stock=4)
        finally:
            shop.close()
        with httpx.Client(timeout=30) as staff:
            admin_login(staff, base, "/backoffice")
            me = staff.get(f"{base}/api/staff/me")
            assert me.status_code == 200, me.text
            assert (me.json()["username"], me.json()["is_superuser"]) == ("staff", True)
            orders = staff.get(f"{base}/api/staff/orders")
            assert orders.status_code == 200 and orders.json()["items"] == []
            page = staff.get(f"{base}/backoffice/admin/backoffice/product/{pid}/change/")
            assert f'data-endpoint="/api/products/{sku}"' in page.text  # same origin
            assert staff.get(f"{base}/backoffice/static/backoffice/storefront-panel.js").is_success
            old = staff.cookies["sessionid"]
            logout = csrf_post(staff, base, "/backoffice/admin/logout/", "/backoffice/admin/")
            assert logout.status_code == 200
        with httpx.Client(timeout=30, cookies={"sessionid": old}) as replay:
            assert replay.get(f"{base}/api/staff/me").status_code == 401
    finally:
        code = up.stop()
    assert code == 0, "\n".join(up.lines)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], alive


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
