"""A real browser against `mergepoint up --one-host`: both apps at one address.

Staff log in at /backoffice/admin/ (CSRF, the admin's CSS applied), the product page's
"storefront view" panel shows what customers see and follows a price change, and the
storefront knows the staff member (/api/staff/me) until they log out, change their
password or are deactivated. Chromium is Debian's (.ci/run installs it); on a failure every
open page is screenshotted into .artifacts/<test name>/ and the paths are in the message.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator

import httpx
import psutil
import psycopg
import pytest
from django.contrib.auth.hashers import make_password
from playwright.sync_api import Browser, Page, sync_playwright
from psycopg import errors

from tests.data import Shop
from tests.integration.support import Up
from tests.support import CHROMIUM, CHROMIUM_ARGS, free_port, screenshots_on_failure

pytestmark = pytest.mark.slow

ADMIN, ADMIN_PASSWORD = "staff", "correct-horse-battery"
PASSWORD = "a staff member's passphrase"


class OneHost:
    """`mergepoint up --one-host` on a database of this module's, and who is on it."""

    def __init__(self, database, base: str, up: Up):
        self.database = database
        self.base = base
        self.up = up

    def staff_user(self, username: str) -> int:
        """A staff member in the clerks group, written as the back office writes users."""
        with self.database.connect("backoffice", autocommit=True) as conn:
            user_id = conn.execute(
                "INSERT INTO backoffice.auth_user (password, is_superuser, username, first_name,"
                " last_name, email, is_staff, is_active, date_joined)"
                " VALUES (%s, false, %s, '', '', '', true, true, now()) RETURNING id",
                [make_password(PASSWORD), username],
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO backoffice.auth_user_groups (user_id, group_id)"
                " SELECT %s, id FROM backoffice.auth_group WHERE name = 'clerks'",
                [user_id],
            )
        return user_id

    def staff_me(self, session_key: str) -> int:
        """The storefront's answer to that cookie, as any other client would get it."""
        with httpx.Client(cookies={"sessionid": session_key}, timeout=30) as client:
            return client.get(f"{self.base}/api/staff/me").status_code


@pytest.fixture(scope="module")
def one_host(pg, tmp_path_factory) -> Iterator[OneHost]:
    database = pg.clone(f"{pg.prefix}browser{secrets.token_hex(3)}", pg.template)
    env = database.env()
    env["MERGEPOINT_DATA_DIR"] = str(tmp_path_factory.mktemp("one-host-data"))
    env["MERGEPOINT_ADMIN_USER"] = ADMIN
    env["MERGEPOINT_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    for var in ("STOREFRONT_DATABASE_URL", "BACKOFFICE_DATABASE_URL", "DJANGO_SECRET_KEY"):
        env.pop(var, None)
    port = free_port()
    up = Up(env, "--one-host", "--port", str(port), "--no-seed")
    children: list[psutil.Process] = []
    try:
        up.wait_for(r"mergepoint is up")
        children = psutil.Process(up.process.pid).children(recursive=True)
        yield OneHost(database, f"http://127.0.0.1:{port}", up)
    finally:
        code = up.end()
        pg.drop(database.name)
    assert code == 0, "\n".join(up.lines)  # Ctrl-C stops it cleanly...
    assert "Traceback" not in "\n".join(up.lines), "\n".join(up.lines)
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], alive  # ...and every process it started


def test_one_server_serves_both_and_the_banner_says_where(one_host):
    output = "\n".join(one_host.up.lines)
    base = one_host.base
    assert f"storefront   {base}/api/products" in output
    assert f"back office  {base}/backoffice/admin/   login: {ADMIN} / {ADMIN_PASSWORD}" in output
    assert f"staff API    {base}/api/staff/me" in output
    assert re.search(r"^\s+one-host \| .*Listening at: ", output, re.M), output
    children = psutil.Process(one_host.up.process.pid).children(recursive=True)
    served = [p for p in children if "apps.onehost:application" in " ".join(p.cmdline())]
    consumers = [p for p in children if "events" in " ".join(p.cmdline())]
    workers = [p for p in children if "worker" in p.cmdline()]
    assert len(served) == 3  # one server (granian): a main process and two workers
    assert (len(consumers), len(workers)) == (2, 2)  # beside it, each app's consumer and worker
    assert len(children) == 3 + 2 + 2


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def log_in(page: Page, base: str, username: str, password: str) -> str:
    """Through the admin's login form; returns the session cookie's value."""
    page.goto(f"{base}/backoffice/admin/")
    assert "/backoffice/admin/login/" in page.url  # sent to the login page, under the prefix
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/backoffice/admin/")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["sessionid"]["path"] == "/"  # the storefront's /api/staff/ receives it
    return cookies["sessionid"]["value"]


def test_staff_log_in_and_the_panel_shows_the_live_price(one_host, browser, request):
    shop = Shop(one_host.database)
    try:
        product = shop.product("PANEL-TEA", price=1250, stock=4)
    finally:
        shop.close()
    base = one_host.base
    context = browser.new_context()
    page = context.new_page()
    stylesheets: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: stylesheets.append((r.url, r.status)) if r.url.endswith(".css") else None,
    )
    with screenshots_on_failure({"admin": page}, request.node.name):
        log_in(page, base, ADMIN, ADMIN_PASSWORD)
        header = page.evaluate("getComputedStyle(document.querySelector('#header')).display")
        assert header == "flex"  # the admin's stylesheet applied, from /backoffice/static/
        # The dashboard is on the index under the prefix too: 30 days, today last.
        days = page.locator("#sales-by-day rect").evaluate_all("rs => rs.map(r => r.dataset.day)")
        assert len(days) == 30 and days[-1] == time.strftime("%Y-%m-%d", time.gmtime())
        served = {url for url, status in stylesheets if status == 200}
        assert f"{base}/backoffice/static/admin/css/base.css" in served, stylesheets

        page.goto(f"{base}/backoffice/admin/backoffice/product/{product}/change/")
        panel = page.wait_for_selector('#storefront-panel[data-state="shown"]')
        assert panel.get_attribute("data-price") == "1250"
        assert panel.get_attribute("data-stock") == "4"
        assert "12.50" in panel.inner_text()

        page.fill("#id_price_cents", "1375")
        page.click("input[name=_continue]")  # save and continue editing: the page reloads
        panel = page.wait_for_selector('#storefront-panel[data-price="1375"]')
        assert "13.75" in panel.inner_text()

        page.uncheck("#id_active")
        page.click("input[name=_continue]")
        panel = page.wait_for_selector('#storefront-panel[data-state="hidden"]')
        assert panel.get_attribute("data-active") == "false"
        assert "do not see this product" in panel.inner_text()

        response = page.goto(f"{base}/api/staff/me")
        assert response is not None and response.status == 200
        me = response.json()
        assert (me["username"], me["is_superuser"]) == (ADMIN, True)
    context.close()


def test_the_storefront_forgets_staff_who_log_out_change_password_or_are_deactivated(
    one_host, browser, request
):
    base = one_host.base
    usernames = {name: f"{name}-{secrets.token_hex(3)}" for name in ("a", "b", "c")}
    users = {name: one_host.staff_user(username) for name, username in usernames.items()}
    contexts = {name: browser.new_context() for name in (*users, "admin")}
    pages = {name: context.new_page() for name, context in contexts.items()}
    with screenshots_on_failure(pages, request.node.name):
        keys = {name: log_in(pages[name], base, usernames[name], PASSWORD) for name in users}
        log_in(pages["admin"], base, ADMIN, ADMIN_PASSWORD)
        for name, key in keys.items():
            me = pages[name].request.get(f"{base}/api/staff/me")
            assert me.status == 200 and me.json()["username"] == usernames[name]
            assert "backoffice.view_order" in me.json()["permissions"]
            assert one_host.staff_me(key) == 200

        # The storefront's role sees none of it: it may only look a session up by hash.
        with psycopg.connect(one_host.database.url("storefront").replace("+psycopg", "")) as sf:
            with pytest.raises(errors.InsufficientPrivilege):
                sf.execute("SELECT * FROM identity.staff_sessions")

        # a logs out.
        pages["a"].click("#logout-form button")
        pages["a"].wait_for_selector("text=Logged out")
        assert one_host.staff_me(keys["a"]) == 401

        # b changes their own password: their old cookie is no staff session any more.
        pages["b"].goto(f"{base}/backoffice/admin/password_change/")
        pages["b"].fill("#id_old_password", PASSWORD)
        pages["b"].fill("#id_new_password1", "another long passphrase")
        pages["b"].fill("#id_new_password2", "another long passphrase")
        pages["b"].click("input[type=submit]")
        pages["b"].wait_for_url(f"{base}/backoffice/admin/password_change/done/")
        assert one_host.staff_me(keys["b"]) == 401

        # The admin deactivates c on c's user page.
        admin = pages["admin"]
        admin.goto(f"{base}/backoffice/admin/auth/user/{users['c']}/change/")
        admin.uncheck("#id_is_active")
        admin.click("input[name=_save]")
        admin.wait_for_selector("ul.messagelist")
        assert one_host.staff_me(keys["c"]) == 401
        assert pages["c"].request.get(f"{base}/api/staff/me").status == 401
    for context in contexts.values():
        context.close()
