"""A real browser against the back office under gunicorn: log in as a clerk, restock; the
admin index's dashboard shows the reports' numbers as charts.

Chromium is Debian's (``apt-get install chromium``, done by .ci/run); without it this
test fails, it is never skipped. The server is gunicorn on the WSGI module, DEBUG off,
static files from WhiteNoise, exactly as it runs in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from apps.django_app.backoffice.models import Product, StockMovement
from schema import reports
from schema.paths import ROOT
from tests.django_app.conftest import make_user
from tests.django_app.test_dashboard import sales_caught_up
from tests.support import CHROMIUM, CHROMIUM_ARGS, free_port, screenshots_on_failure

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"




def wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer {url} within {timeout}s:\n{log.read_text()}")


@pytest.fixture
def backoffice_server(session_db, tmp_path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "BACKOFFICE_DATABASE_URL": session_db.url("backoffice"),
        "DJANGO_SECRET_KEY": "browser-test-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_CONN_MAX_AGE": "0",
    }
    argv = [sys.executable, "-m", "gunicorn", "apps.django_app.config.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-"]
    with log.open("w") as out:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/admin/login/", server, log)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_a_clerk_logs_in_and_restocks_a_product_in_a_real_browser(
    committed_db, shop, backoffice_server
):
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    clerk = make_user(clerk=True, password=PASSWORD)
    pid = shop.product(stock=4)
    sku = Product.objects.get(pk=pid).sku
    base = backoffice_server
    stylesheets: list[tuple[str, int]] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.on(
                "response",
                lambda r: stylesheets.append((r.url, r.status)) if r.url.endswith(".css") else None,
            )
            page.goto(f"{base}/admin/backoffice/product/")
            assert "/admin/login/" in page.url  # logged out: sent to the login page
            page.fill("#id_username", clerk.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/admin/backoffice/product/")

            page.fill("#searchbar", sku)
            page.press("#searchbar", "Enter")
            page.wait_for_url(f"**/admin/backoffice/product/?q={sku}")
            page.check(f"input[name=_selected_action][value='{pid}']")
            page.select_option("select[name=action]", "restock_selected")
            page.click("button[name=index]")
            page.wait_for_url("**/admin/backoffice/product/restock/?ids=*")
            assert sku in page.locator("#restock-products").inner_text()

            page.fill("#id_quantity", "0")  # the browser itself refuses it (min=1)
            assert page.eval_on_selector("#id_quantity", "e => e.validity.rangeUnderflow")

            page.fill("#id_quantity", "8")
            page.click("input[name=restock]")
            page.wait_for_url(f"{base}/admin/backoffice/product/")
            message = page.locator("ul.messagelist").inner_text()
            assert f"Restocked 8 units of 1 product: {sku} (now 12)." in message
            header = page.evaluate("getComputedStyle(document.querySelector('#header')).display")
            assert header == "flex"  # the admin's stylesheet applied, served by WhiteNoise
        finally:
            browser.close()

    served = [url for url, status in stylesheets if status == 200]
    assert any(url.endswith("/static/admin/css/base.css") for url in served), stylesheets
    assert Product.objects.get(pk=pid).stock == 12
    movement = StockMovement.objects.get(product_id=pid, delta=8)
    assert (movement.reason, movement.actor) == ("restock", f"backoffice:{clerk.username}")


def report_rows(session_db, name: str) -> list[tuple]:
    with session_db.connect("reporting") as conn:
        return reports.run(reports.find(name), conn, {}).rows  # its defaults: the last 30 days


def test_the_dashboard_charts_the_reports_numbers_in_a_real_browser(
    committed_db, shop, backoffice_server, session_db, request, tmp_path
):
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    clerk = make_user(clerk=True, password=PASSWORD)  # clerks may view orders and products
    pid = shop.product(stock=200, price=2450)
    shop.order({pid: 2}, status="paid")
    shop.order({pid: 1}, status="cancelled")
    for days_ago, status in ((2, "shipped"), (9, "placed"), (28, "cancelled")):
        placed_at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
        shop.order({pid: 4}, placed_at=placed_at, status=status)
    sales_caught_up(session_db)
    base = backoffice_server

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            with screenshots_on_failure({"index": page}, request.node.name):
                page.goto(f"{base}/admin/")
                page.fill("#id_username", clerk.username)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{base}/admin/")

                bars = page.locator("#sales-by-day rect").evaluate_all(
                    "rs => rs.map(r => [r.dataset.day, Number(r.dataset.revenueCents),"
                    " r.getBoundingClientRect().height])"
                )
                sales = report_rows(session_db, "sales_by_day")
                assert [(day, cents) for day, cents, _h in bars] == [
                    (str(r[0]), r[3]) for r in sales
                ]
                assert len(bars) == 30
                # Drawn, not just present: the best day is the tallest bar, an empty day flat.
                best = max(bars, key=lambda b: b[1])
                assert best[2] == max(b[2] for b in bars) > 50
                assert all(h == 0 for _d, cents, h in bars if cents == 0)

                steps = page.locator("#order-funnel rect").evaluate_all(
                    "rs => rs.map(r => [r.dataset.status, Number(r.dataset.orders)])"
                )
                funnel = report_rows(session_db, "order_status_funnel")
                assert steps == [[r[0], r[1]] for r in funnel]

                # The text alternative: a table behind a <details>, closed until asked.
                table = page.locator("#sales-by-day-table")
                assert not table.is_visible()
                page.click("text=Sales by day as a table")
                assert table.is_visible() and table.locator("tbody tr").count() == 30
                fill = page.eval_on_selector(
                    "#sales-by-day rect", "r => getComputedStyle(r).fill"
                )
                assert fill not in ("", "rgb(0, 0, 0)")  # the dashboard's stylesheet applied
                assert page.locator("#low-stock, #dashboard >> text=Low stock:").count() >= 1
        finally:
            browser.close()


def test_a_failing_browser_step_keeps_a_screenshot(tmp_path):
    """What the dashboard's browser test leaves behind when it fails."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.set_content("<h1>what the page showed</h1>")
            with pytest.raises(AssertionError) as failed:
                with screenshots_on_failure({"index": page}, "a test", directory=tmp_path):
                    raise AssertionError("a step failed")
        finally:
            browser.close()
    kept = tmp_path / "a_test" / "index.png"
    assert f"screenshots: {kept}" in str(failed.value)
    assert kept.read_bytes().startswith(b"\x89PNG")
