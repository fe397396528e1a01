"""Process helpers for the reliability suite: the apps under gunicorn (or granian, as
`mergepoint up` runs them: schema.servers), used over real HTTP.

Each app runs as it does in production: ``python -m gunicorn`` in a subprocess with only
its own environment (its role's URL; the back office also its secret key and allowed
hosts), bound to a port the kernel picks (read back from gunicorn's "Listening at" line,
so two runs never race for a port; granian, given a free port, says the same line).
Clients are real threads with httpx; every call is recorded with its timing so a test can
say which requests failed, when and how.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from schema import servers
from schema.paths import ROOT
from tests.support import free_port

MANAGE = ROOT / "apps" / "django_app" / "manage.py"
STOREFRONT_WSGI = "apps.flask_app:create_app()"
BACKOFFICE_WSGI = "apps.django_app.config.wsgi:application"
_LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


def minimal_env(**variables: str) -> dict[str, str]:
    """A process environment with nothing but PATH, a locale and ``variables``."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **variables}


def storefront_env(url: str) -> dict[str, str]:
    return minimal_env(STOREFRONT_DATABASE_URL=url)


def backoffice_env(url: str, **extra: str) -> dict[str, str]:
    return minimal_env(
        BACKOFFICE_DATABASE_URL=url,
        DJANGO_SECRET_KEY="reliability-" + secrets.token_hex(24),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        **extra,
    )


class Gunicorn:
    """One gunicorn master and its workers (or granian's, ``server="granian"``, with the
    command line `mergepoint up` gives it), output in ``log``."""

    def __init__(
        self,
        wsgi: str,
        env: Mapping[str, str],
        log: Path,
        *,
        workers: int = 2,
        threads: int = 8,
        args: Sequence[str] = (),
        server: str = servers.GUNICORN,
    ) -> None:
        self.log = log
        self.base = ""
        self.server = server
        argv = [
            sys.executable, "-m", "gunicorn",
            "--bind", "127.0.0.1:0",
            "--workers", str(workers),
            "--threads", str(threads),
            "--graceful-timeout", "10",
            "--no-control-socket",
            *args,
            wsgi,
        ]  # fmt: skip
        if server == servers.GRANIAN:
            assert not args, "extra arguments are gunicorn's"
            serve = servers.Serve("127.0.0.1", free_port(), workers=workers, threads=threads)
            argv = servers.argv(server, wsgi, serve)
        with log.open("w") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, probe: str, timeout: float = 60) -> None:
        """Wait until ``probe`` answers 200 (gunicorn bound its port and a worker is up)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    pytest.fail(f"{self.server} exited with {code}:\n{self.output()}")
                if not self.base:
                    if found := _LISTENING.search(self.output()):
                        self.base = found.group(1)
                else:
                    try:
                        if client.get(self.base + probe).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                time.sleep(0.1)
        pytest.fail(f"{self.server} did not answer {probe} within {timeout}s:\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM (graceful), then SIGKILL if it does not go; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)


@contextmanager
def gunicorn(
    wsgi: str,
    env: Mapping[str, str],
    log: Path,
    *,
    probe: str,
    args: Sequence[str] = (),
    server: str = servers.GUNICORN,
    **options: int,
) -> Iterator[Gunicorn]:
    process = Gunicorn(wsgi, env, log, args=args, server=server, **options)
    try:
        process.wait_ready(probe)
        yield process
    finally:
        process.stop()


def assert_no_traceback(server: Gunicorn) -> None:
    """A traceback in an app's log is an unhandled error some request met."""
    assert "Traceback" not in server.output(), server.output()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def owner(fresh_db) -> Iterator[psycopg.Connection]:
    """The owner's autocommit connection: writes test data, checks what the apps wrote."""
    with fresh_db.connect(autocommit=True) as conn:
        yield conn


@pytest.fixture
def storefront(request, fresh_db, tmp_path) -> Iterator[Gunicorn]:
    """The storefront under gunicorn (2 workers x 8 threads) on this test's database; under
    granian when parametrized so (``indirect=["storefront"]`` with "granian").

    Its load tests register hundreds of buyers from this one address: the registration
    limit per address is raised for them (to 1000 an hour), here and nowhere else.
    """
    env = {**storefront_env(fresh_db.url("storefront")), "STOREFRONT_REGISTRATION_LIMIT": "1000"}
    kind = getattr(request, "param", servers.GUNICORN)
    log = tmp_path / "storefront.log"
    with gunicorn(STOREFRONT_WSGI, env, log, probe="/readyz", server=kind) as server:
        yield server
    assert_no_traceback(server)


@pytest.fixture
def backoffice(fresh_db, tmp_path) -> Iterator[Gunicorn]:
    """The back office under gunicorn (2 workers x 4 threads), DEBUG off."""
    env = backoffice_env(fresh_db.url("backoffice"))
    log = tmp_path / "backoffice.log"
    with gunicorn(BACKOFFICE_WSGI, env, log, probe="/admin/login/", threads=4) as server:
        yield server
    assert_no_traceback(server)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One client shared by every thread (httpx clients are thread-safe), enough connections
    for every thread to hold its own."""
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    with httpx.Client(timeout=60, limits=limits) as client:
        yield client


# --- calls, recorded --------------------------------------------------------------------


@dataclass
class Call:
    """One HTTP request as a client saw it."""

    what: str
    start: float
    end: float
    status: int | None  # None: no response at all (transport error)
    content_type: str = ""
    code: str | None = None  # the error body's code, if any
    body: Any = None
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def is_json(self) -> bool:
        return self.content_type.split(";")[0].strip() == "application/json"

    @property
    def server_error(self) -> bool:
        return self.status is None or self.status >= 500


def call(client: httpx.Client, what: str, method: str, url: str, **kwargs: Any) -> Call:
    start = time.monotonic()
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        return Call(what, start, time.monotonic(), None, error=f"{type(exc).__name__}: {exc}")
    end = time.monotonic()
    record = Call(what, start, end, response.status_code, response.headers.get("content-type", ""))
    if record.is_json:
        record.body = response.json()
        if isinstance(record.body, dict) and isinstance(record.body.get("error"), dict):
            record.code = record.body["error"].get("code")
    return record


def summary(calls: list[Call]) -> dict[tuple[str, int | None, str | None], int]:
    """How many calls of each (what, status, code): the first thing to print on a failure."""
    out: dict[tuple[str, int | None, str | None], int] = {}
    for c in calls:
        key = (c.what, c.status, c.code)
        out[key] = out.get(key, 0) + 1
    return out


# --- the shop, as its users make it ---------------------------------------------------


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register_customers(
    client: httpx.Client, base: str, n: int, *, workers: int = 8
) -> list[Customer]:
    """``n`` customers registered through the storefront's API, each with its own token."""
    tag = secrets.token_hex(3)

    def one(i: int) -> Customer:
        email = f"buyer-{tag}-{i}@example.com"
        response = client.post(f"{base}/api/customers", json={"email": email, "name": f"Buyer {i}"})
        assert response.status_code == 201, response.text
        body = response.json()
        return Customer(body["customer"]["id"], email, body["token"])

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


def add_product(conn: psycopg.Connection, sku: str, *, price: int = 500, stock: int = 0) -> int:
    """A product with ``stock`` units (a restock movement, as the rules require)."""
    pid = conn.execute(
        "INSERT INTO shop.products (sku, name, price_cents) VALUES (%s, %s, %s) RETURNING id",
        [sku, f"Product {sku}", price],
    ).fetchone()[0]
    if stock:
        conn.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " VALUES (%s, %s, 'restock')",
            [pid, stock],
        )
    return pid


def make_clerk(database) -> tuple[str, str]:
    """A staff user in the ``clerks`` group, created with the back office's own manage.py."""
    username, password = f"clerk{secrets.token_hex(3)}", "reliable-" + secrets.token_hex(8)
    code = (
        "from django.contrib.auth.models import Group, User;"
        f"u = User.objects.create_user({username!r}, password={password!r}, is_staff=True);"
        "u.groups.add(Group.objects.get(name='clerks'))"
    )
    result = subprocess.run(
        [sys.executable, str(MANAGE), "shell", "-c", code],
        cwd=ROOT,
        env=backoffice_env(database.url("backoffice")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return username, password


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def admin_login(client: httpx.Client, base: str, username: str, password: str) -> None:
    page = client.get(f"{base}/admin/login/")
    token = CSRF_INPUT.search(page.text).group(1)
    response = client.post(
        f"{base}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password,
              "next": "/admin/"},
    )  # fmt: skip
    assert response.status_code == 302, response.text
    assert response.headers["location"] == "/admin/"


def csrf_token(client: httpx.Client) -> str:
    """The session's CSRF secret (Django accepts it unmasked as the form token)."""
    return client.cookies["csrftoken"]


def mergepoint(database, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120):
    """``mergepoint ARGS`` in a subprocess, pointed at ``database``."""
    return subprocess.run(
        [sys.executable, "-m", "schema.cli", *args],
        cwd=ROOT,
        env={**database.env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def report(database, name: str, *params: str) -> list[dict[str, Any]]:
    """A report's rows, run as a user would: ``mergepoint report run NAME --format json``."""
    argv = ["report", "run", name, "--format", "json"]
    for p in params:
        argv += ["--param", p]
    result = mergepoint(database, *argv)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_shop_is_whole(database, conn: psycopg.Connection) -> None:
    """The ledger audit is empty and no order lacks lines or a sale movement per line."""
    assert report(database, "ledger_audit") == []
    lineless = conn.execute(
        "SELECT o.id FROM shop.orders o"
        " WHERE NOT EXISTS (SELECT 1 FROM shop.order_lines l WHERE l.order_id = o.id)"
    ).fetchall()
    assert lineless == [], f"orders without lines: {lineless}"
    unsold = conn.execute(
        "SELECT l.order_id, l.product_id FROM shop.order_lines l"
        " WHERE NOT EXISTS (SELECT 1 FROM shop.stock_movements m WHERE m.reason = 'sale'"
        "   AND m.order_id = l.order_id AND m.product_id = l.product_id"
        "   AND m.delta = -l.quantity)"
    ).fetchall()
    assert unsold == [], f"order lines without their sale movement: {unsold}"
    drift = conn.execute(
        "SELECT p.id, p.stock, coalesce(sum(m.delta), 0) FROM shop.products p"
        " LEFT JOIN shop.stock_movements m ON m.product_id = p.id"
        " GROUP BY p.id HAVING p.stock <> coalesce(sum(m.delta), 0) OR p.stock < 0"
    ).fetchall()
    assert drift == [], f"stock differs from the ledger or is negative: {drift}"
