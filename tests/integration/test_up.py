"""End to end: `mergepoint up` in a subprocess, used over HTTP as a customer and as staff."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import psutil

from schema.paths import ROOT
from tests.integration.support import Up, admin_login
from tests.support import free_port


def admin_action(client: httpx.Client, base: str, action: str, order_id: int) -> str:
    url = f"{base}/admin/backoffice/order/"
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        url,
        data={"csrfmiddlewaretoken": token, "action": action, "_selected_action": str(order_id),
              "index": "0"},
        headers={"Referer": url},
        follow_redirects=True,
    )  # fmt: skip
    assert response.status_code == 200
    return response.text


def report(database, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schema.cli", "report", "run", name, "--format", "json"],
        cwd=ROOT,
        env=database.env(),
        capture_output=True,
        text=True,
    )


def dashboard_bars(page: str) -> list[tuple[str, str]]:
    """The admin index's sales chart: (day, revenue in cents) of each bar."""
    return re.findall(r'data-day="([0-9-]+)" data-revenue-cents="([0-9]+)"', page)


def eventually(condition, deadline: float = 20.0) -> None:
    """Delivery is asserted with a deadline, never a latency (that is the bench's)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "not delivered in time"
        time.sleep(0.1)


def test_up_runs_the_whole_system_and_stops_cleanly(fresh_db, up_env):
    sf_port, bo_port = free_port(), free_port()
    up = Up(up_env, "--storefront-port", str(sf_port), "--backoffice-port", str(bo_port))
    try:
        up.wait_for(r"mergepoint is up")
        children = psutil.Process(up.process.pid).children(recursive=True)
        assert len(children) >= 4  # two servers (granian) and their workers
        shop, office = f"http://127.0.0.1:{sf_port}", f"http://127.0.0.1:{bo_port}"
        sku = up.wait_for(r'"sku": "([A-Z0-9-]+)"').group(1)
        assert "login: staff / correct-horse-battery" in "\n".join(up.lines)

        with httpx.Client(timeout=30) as client:
            registered = client.post(
                f"{shop}/api/customers", json={"email": "e2e@example.com", "name": "E2E"}
            )
            assert registered.status_code == 201, registered.text
            token = registered.json()["token"]
            order = client.post(
                f"{shop}/api/orders",
                json={"lines": [{"sku": sku, "quantity": 2}]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert order.status_code == 201, order.text
            order_id = order.json()["id"]

        assert any("storefront-events | events: consuming" in line for line in up.lines)
        assert any("backoffice-events | events: consuming" in line for line in up.lines)
        assert any("storefront-worker | Launching a worker on storefront" in x for x in up.lines)
        assert any("backoffice-worker | Launching a worker on backoffice" in x for x in up.lines)
        with httpx.Client(timeout=30) as staff:
            admin_login(staff, office)
            # The order reaches the staff feed on the admin index through the events.
            eventually(lambda: f"Order #{order_id} placed" in staff.get(f"{office}/admin/").text)
            admin_action(staff, office, "mark_paid", order_id)
            admin_action(staff, office, "ship", order_id)
            # The dashboard charts the demo data and the new order as the report counts them.
            sold = report(fresh_db, "sales_by_day")
            assert sold.returncode == 0, sold.stderr
            expected = [(r["day"], str(r["revenue_cents"])) for r in json.loads(sold.stdout)]
            assert len(expected) == 30 and sum(int(c) for _d, c in expected) > 0
            eventually(lambda: dashboard_bars(staff.get(f"{office}/admin/").text) == expected)
            css = staff.get(f"{office}/static/admin/css/base.css")
            assert css.status_code == 200  # whitenoise serves the admin's CSS, DEBUG off
            # Two hosts: the product page's panel asks the storefront, which allows us.
            product = staff.get(f"{office}/admin/backoffice/product/?q={sku}")
            pid = re.search(r'href="/admin/backoffice/product/(\d+)/change/', product.text)
            page = staff.get(f"{office}/admin/backoffice/product/{pid.group(1)}/change/")
            assert f'data-endpoint="{shop}/api/products/{sku}"' in page.text
            read = staff.get(f"{shop}/api/products/{sku}", headers={"Origin": office})
            assert read.headers["access-control-allow-origin"] == office
        with httpx.Client(timeout=30) as customer:
            bearer = {"Authorization": f"Bearer {token}"}

            def told() -> list[str]:
                items = customer.get(f"{shop}/api/notifications", headers=bearer).json()["items"]
                return [i["kind"] for i in items if i["order_id"] == order_id]

            eventually(lambda: told() == ["shipped", "paid"])  # newest first

            # The customer's data, made by the storefront's worker, fetched over HTTP.
            asked = customer.post(f"{shop}/api/customers/me/export", headers=bearer)
            assert asked.status_code == 202, asked.text
            export = f"{shop}{asked.headers['Location']}"
            eventually(lambda: customer.get(export, headers=bearer).status_code == 200)
            assert customer.get(export, headers=bearer).json()["orders"][0]["id"] == order_id
        with fresh_db.connect() as conn:
            assert conn.execute(
                "SELECT status FROM shop.orders WHERE id = %s", [order_id]
            ).fetchone() == ("shipped",)

        sales = report(fresh_db, "sales_by_day")
        assert sales.returncode == 0, sales.stderr
        rows = json.loads(sales.stdout)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert any(str(r["day"]) == today and r["orders"] >= 1 for r in rows), rows
        audit = report(fresh_db, "ledger_audit")
        assert audit.returncode == 0, audit.stderr
        assert json.loads(audit.stdout) == []
    finally:
        code = up.end()
    assert code == 0, "\n".join(up.lines)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], alive


def test_up_refuses_a_port_in_use_in_one_line(fresh_db, up_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "schema.cli", "up", "--storefront-port", str(port),
             "--backoffice-port", str(free_port())],
            cwd=ROOT, env=up_env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines == [
        f"error: port {port} on 127.0.0.1 is not available (Address already in use);"
        " choose another with --storefront-port PORT"
    ]
