"""End to end: `mergepoint up` in a subprocess, used over HTTP as a customer and as staff."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from schema.paths import ROOT
from tests.support import free_port


class Up:
    """A running `mergepoint up`, its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "schema.cli", "up", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
        self.process.stdout.close()

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                self.reader.join(5)
                break
            time.sleep(0.1)
        raise AssertionError(f"never saw {pattern!r}; output:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(30)
        self.reader.join(5)
        return code


@pytest.fixture
def up_env(fresh_db, tmp_path):
    env = fresh_db.env()
    env["MERGEPOINT_DATA_DIR"] = str(tmp_path / "data")
    env["MERGEPOINT_ADMIN_USER"] = "staff"
    env["MERGEPOINT_ADMIN_PASSWORD"] = "correct-horse-battery"
    for var in ("STOREFRONT_DATABASE_URL", "BACKOFFICE_DATABASE_URL", "DJANGO_SECRET_KEY"):
        env.pop(var, None)  # up gives each app its own
    return env


def admin_login(client: httpx.Client, base: str) -> None:
    page = client.get(f"{base}/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        f"{base}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": "staff",
              "password": "correct-horse-battery", "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"},
    )  # fmt: skip
    assert response.status_code == 302 and response.headers["location"] == "/admin/", response.text


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
        assert len(children) >= 4  # two gunicorn masters and their workers
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
        with httpx.Client(timeout=30) as staff:
            admin_login(staff, office)
            # The order reaches the staff feed on the admin index through the events.
            eventually(lambda: f"Order #{order_id} placed" in staff.get(f"{office}/admin/").text)
            admin_action(staff, office, "mark_paid", order_id)
            admin_action(staff, office, "ship", order_id)
            css = staff.get(f"{office}/static/admin/css/base.css")
            assert css.status_code == 200  # whitenoise serves the admin's CSS, DEBUG off
        with httpx.Client(timeout=30) as customer:
            bearer = {"Authorization": f"Bearer {token}"}

            def told() -> list[str]:
                items = customer.get(f"{shop}/api/notifications", headers=bearer).json()["items"]
                return [i["kind"] for i in items if i["order_id"] == order_id]

            eventually(lambda: told() == ["shipped", "paid"])  # newest first
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
        code = up.stop()
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
