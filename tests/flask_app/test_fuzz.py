"""Property-based fuzzing of every operation in /openapi.json (schemathesis, in process).

Valid and invalid inputs generated from the document itself, against the real database;
every response must be declared, match its schema, and never be a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

pytestmark = pytest.mark.slow

schema = schemathesis.pytest.from_fixture("api_schema")
REVOKE = ("DELETE", "/api/tokens/current")


@pytest.fixture
def app_config(app_config) -> dict[str, object]:
    # Every generated registration comes from one address: this run sets its own limit.
    return {**app_config, "REGISTRATION_LIMIT": 100_000}


@pytest.fixture
def api_schema(app, shop, alice, client):
    tea = shop.product("TEA-1", price=450, stock=50)
    shop.product("MUG-1", price=1200, stock=1)
    shop.deactivate(shop.product("OLD-1", stock=5))
    assert tea
    client.post(
        "/api/orders", json={"lines": [{"sku": "TEA-1", "quantity": 1}]}, headers=alice.headers
    )
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=15,  # per operation; the schemathesis CLI run (test_schemathesis.py) goes wider
    deadline=None,
    derandomize=True,  # the same examples every run: a red CI run is reproducible
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(case, alice, client):
    headers = alice.headers
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        # A case whose headers are wrong on purpose (Authorization left out, say) is sent
        # as generated: adding Alice's token back would make it a valid request.
        headers = {}
    elif (case.method.upper(), case.path) == REVOKE:
        # Revoking Alice's own token would leave every later case a 401: revoke another.
        fresh = client.post("/api/tokens", headers=alice.headers).get_json()["token"]
        headers = {"Authorization": f"Bearer {fresh}"}
    case.call_and_validate(headers=headers)
