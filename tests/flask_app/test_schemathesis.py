"""The OpenAPI document and the API agree: schemathesis's CLI, every check, every phase.

The storefront runs as in production (gunicorn, its role's URL only) on a database of its
own; `schemathesis run` reads /openapi.json from it and tries examples, the coverage
phase's boundary values, fuzzed inputs and stateful sequences along the document's links
(list products, order one, read the order, cancel it). Any failed check fails the test, with
schemathesis's own report (and a curl line per failure) in the assertion message.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.data import key_hash
from tests.reliability.conftest import gunicorn, storefront_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = shutil.which("schemathesis") or shutil.which("st")
# gunicorn answers a request line over 4094 bytes with its own HTML 414 before the app sees
# it; fuzzed query strings get that long. The contract under test is the app's.
GUNICORN_ARGS = ("--limit-request-line", "0")
# create_app's config for this run: gunicorn evaluates literal arguments. Settings that
# would get in the fuzzer's way belong here, overridden for this run only: schemathesis
# registers thousands of customers from one address, past the default registration limit.
STOREFRONT_APP = "apps.flask_app:create_app({'REGISTRATION_LIMIT': 100000})"


def seed(owner) -> None:
    for sku, price, stock, active in [
        ("TEA-1", 450, 5000, True),
        ("MUG-1", 1200, 5000, True),
        ("OLD-1", 300, 5, False),
    ]:
        product = owner.execute(
            "INSERT INTO shop.products (sku, name, price_cents, active)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            [sku, f"Product {sku}", price, active],
        ).fetchone()[0]
        owner.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " VALUES (%s, %s, 'restock')",
            [product, stock],
        )


def followed_links(ndjson: Path) -> set[tuple[str, int]]:
    """(link, status) of every stateful step schemathesis took along a link."""
    followed = set()
    for line in ndjson.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario or scenario["phase"] != "stateful":
            continue
        recorder = scenario["recorder"]
        for case_id, case in recorder.get("cases", {}).items():
            response = (recorder.get("interactions", {}).get(case_id) or {}).get("response")
            if case.get("transition") and response:
                followed.add((case["transition"]["id"], response["status_code"]))
    return followed


def answers(ndjson: Path) -> Counter[tuple[str, str, int]]:
    """How often each (method, path, status) was answered, over every phase."""
    counted: Counter[tuple[str, str, int]] = Counter()
    for line in ndjson.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario:
            continue
        for interaction in scenario["recorder"].get("interactions", {}).values():
            request, response = interaction["request"], interaction.get("response")
            if response:
                path = urlsplit(request["uri"]).path
                counted[(request["method"], path, response["status_code"])] += 1
    return counted


def test_schemathesis_finds_no_difference_between_the_document_and_the_api(fresh_db, tmp_path):
    assert SCHEMATHESIS, "schemathesis is a dev dependency: pip install -e '.[dev]'"
    with fresh_db.connect(autocommit=True) as owner:
        seed(owner)
    # A staff session, begun as the back office begins one on login: the staff endpoints
    # then answer (the run sends its cookie), and their 401 is checked without it.
    staff_key = secrets.token_hex(16)
    with fresh_db.connect("backoffice", autocommit=True) as backoffice:
        backoffice.execute(
            "SELECT identity.begin_staff_session(%s, 1, 'schemathesis', true, '{}',"
            " now() + interval '1 hour')",
            [key_hash(staff_key)],
        )
    env = storefront_env(fresh_db.url("storefront"))
    reports = tmp_path / "reports"
    with gunicorn(
        STOREFRONT_APP, env, tmp_path / "storefront.log", probe="/readyz", args=GUNICORN_ARGS
    ) as server:
        registration = httpx.post(
            server.base + "/api/customers",
            json={"email": "schemathesis@example.com", "name": "Schemathesis"},
        )
        token = registration.json()["token"]
        # The staff cookie as the document's own security scheme (not a header on every
        # request): negative cases without it then expect, and get, a 401.
        result = subprocess.run(
            [
                *(SCHEMATHESIS, "run"),
                server.base + "/openapi.json",
                *("--checks", "all"),
                *("--phases", "examples,coverage,fuzzing,stateful"),
                *("--seed", "20261125"),  # the same run every time: a red run reproduces
                *("--report", "json,ndjson", "--report-dir", str(reports)),
                "--output-truncate=false",
            ],
            cwd=tmp_path,  # its caches stay out of the checkout
            env={
                **env,
                "NO_COLOR": "1",
                "PYTHONIOENCODING": "utf-8",
                "PYTHONPATH": str(ROOT),
                "SCHEMATHESIS_HOOKS": "tests.flask_app.schemathesis_hooks",
                # The customer the run acts as (schemathesis_hooks.CustomerToken; the hooks
                # module is not imported here: its auth provider would apply to every
                # schemathesis test in this process).
                "STOREFRONT_TEST_BASE_URL": server.base,
                "STOREFRONT_TEST_TOKEN": token,
                "STAFF_SESSION_KEY": staff_key,
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    [summary] = reports.glob("json-*.json")
    report = json.loads(summary.read_text())
    assert (report["failures"], report["errors"]) == ([], []), output
    assert {name: phase["status"] for name, phase in report["phases"].items()} == dict.fromkeys(
        ("examples", "coverage", "fuzzing", "stateful"), "success"
    ), output
    # No "missing test data", "validation mismatch", "low valid rate"... warning either.
    assert {name: found for name, found in report["warnings"].items() if found} == {}, output
    # The stateful phase placed orders and followed their links to reading and cancelling them.
    [events] = reports.glob("ndjson-*.ndjson")
    followed = followed_links(events)
    # The stateful phase reaches an order's read and cancel through links (the document's
    # own, POST /api/orders -> getOrder/cancelOrder, or those schemathesis infers from the
    # order ids other responses carry: which ones the budget goes to varies).
    for target in ("-> GET /api/orders/{order_id}", "-> POST /api/orders/{order_id}/cancel"):
        reached = [link for link, status in followed if link.endswith(target) and status == 200]
        assert reached, sorted(followed)
