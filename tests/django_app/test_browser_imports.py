"""A real browser imports a catalogue: upload, watch the progress page, download the result.

gunicorn serves the back office as in production; the back office's worker runs as its
users run it (``manage.py procrastinate worker --queues backoffice``). Chromium is
Debian's (.ci/run installs it); never skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from apps.django_app.backoffice.models import Product, ProductImport
from schema.paths import ROOT
from tests.data import unique
from tests.django_app.conftest import make_user
from tests.django_app.test_browser import (  # noqa: F401 - the fixture
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    backoffice_server,
)

pytestmark = pytest.mark.slow

ROWS = 3_000


def start_worker(session_db, log: Path) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "BACKOFFICE_DATABASE_URL": session_db.url("backoffice"),
        "DJANGO_SECRET_KEY": "browser-test-" + "x" * 40,
    }
    argv = [sys.executable, str(ROOT / "apps" / "django_app" / "manage.py"), "procrastinate"]
    argv += ["worker", "--queues", "backoffice"]
    with log.open("w") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_staff_import_a_catalogue_in_a_real_browser(
    committed_db,
    session_db,
    backoffice_server,  # noqa: F811
    tmp_path,
):
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium"
    admin = make_user(superuser=True, password=PASSWORD)
    prefix = unique("WEB").upper().replace("_", "-")
    skus = [f"{prefix}-{i:05d}" for i in range(ROWS)]
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        "sku,name,price_cents,stock\n"
        + "".join(f"{sku},Browser product {i},{100 + i},{i % 7}\n" for i, sku in enumerate(skus))
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(f"sku,name,price_cents\n{skus[0]},x,-1\n")
    base = backoffice_server
    worker = None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(f"{base}/admin/login/?next=/admin/backoffice/product/")
            page.fill("#id_username", admin.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/admin/backoffice/product/")
            page.click("a.importlink")
            page.wait_for_url(f"{base}/admin/backoffice/product/import/")

            page.set_input_files("#id_file", str(bad))  # a bad line: nothing is written
            page.click("input[name=import]")
            assert "price_cents -1: the price cannot be negative" in page.inner_text(
                "#import-errors"
            )

            page.set_input_files("#id_file", str(catalogue))
            page.click("input[name=import]")
            page.wait_for_url(f"{base}/admin/backoffice/product/import/*/")
            progress = page.locator("#import-progress")
            assert progress.get_attribute("data-state") == "queued"  # no worker yet
            assert f"0 of {ROWS} rows" in progress.inner_text()

            worker = start_worker(session_db, tmp_path / "worker.log")
            page.wait_for_selector("#import-progress[data-state=done]", timeout=60_000)
            assert f"{ROWS} of {ROWS} rows (100%)" in page.inner_text("#import-progress")
            assert f"{ROWS} created, 0 updated, 0 unchanged" in page.inner_text("#import-progress")
            with page.expect_download() as download:
                page.click("#import-result")
            lines = Path(download.value.path()).read_text().splitlines()
        finally:
            browser.close()
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(15)
    assert lines[0] == "line,sku,outcome,stock_before,stock_after"
    assert lines[1] == f"2,{skus[0]},created,0,0" and lines[2] == f"3,{skus[1]},created,0,1"
    assert len(lines) == ROWS + 1
    assert Product.objects.filter(sku__startswith=prefix).count() == ROWS
    record = ProductImport.objects.get(username=admin.username)
    assert (record.status, record.done_rows) == ("done", ROWS)
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
