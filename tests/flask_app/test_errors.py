"""No database message reaches a client; unexpected failures name a request id (issue 13).

An error the storefront expects names the rule or constraint (a name in its contract with
the shared schema) and the fields to fix. Anything else is a JSON 500, or a 503 when the
database is unavailable, whose ``details.request_id`` is also in the ``X-Request-Id``
header and in the server's log line that holds the whole error.
"""

from __future__ import annotations

import logging
import re
import uuid

import pytest

from apps.flask_app import create_app
from apps.flask_app.db import EXTENSION
from tests.flask_app.helpers import assert_error

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# What PostgreSQL's own messages look like: none may reach a client.
DATABASE_WORDS = ("violates", 'constraint "', "relation", "duplicate key", "internal detail")


def assert_no_database_message(response) -> None:
    body = response.get_data(as_text=True)
    for words in DATABASE_WORDS:
        assert words not in body, body


def assert_logged(caplog, request_id: str, *fragments: str) -> None:
    """One error record names the request id, and its text (traceback included) holds
    every fragment: the operator finds the whole story by the id the client quotes."""
    records = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    [record] = records
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    for fragment in fragments:
        assert fragment in text, text


@pytest.fixture
def tea(shop) -> int:
    return shop.product("TEA-1", price=450, stock=10)


def place(client, account, quantity=1):
    body = {"lines": [{"sku": "TEA-1", "quantity": quantity}]}
    return client.post("/api/orders", json=body, headers=account.headers)


# --- the request id ---------------------------------------------------------------------


def test_every_response_carries_a_generated_request_id(client):
    first, second = client.get("/healthz"), client.get("/api/products/NOPE")
    for response in (first, second):
        assert UUID.fullmatch(response.headers["X-Request-Id"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "given", ["a1b2c3", "Root=1-5759e988-bd862e3fe1be46a9;Parent=53995c3f", "x" * 128]
)
def test_a_sane_client_request_id_is_kept(client, given):
    assert client.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"] == given


@pytest.mark.parametrize(
    "given", ["", "two words", "x" * 129, "evil\u202eid", 'quote"d', "line\tbreak"]
)
def test_an_insane_client_request_id_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert UUID.fullmatch(response.headers["X-Request-Id"])


# --- expected refusals: the rule's name and the fields, never the database's words -------


def test_a_constraint_stricter_than_the_api_names_the_field_and_the_rule(client, owner):
    # The shared schema may check more than the API does (here: a shorter name).
    owner.execute("ALTER TABLE shop.customers DROP CONSTRAINT ck_customers_name_length")
    owner.execute(
        "ALTER TABLE shop.customers ADD CONSTRAINT ck_customers_name_length"
        " CHECK (length(name) BETWEEN 1 AND 10) NOT VALID"
    )
    response = client.post(
        "/api/customers", json={"email": "long@example.com", "name": "A much longer name"}
    )
    details = assert_error(response, 422, "validation_error")
    assert details == {
        "in": "body",
        "fields": {"name": "the shop does not accept this name"},
        "rule": "ck_customers_name_length",
    }
    assert_no_database_message(response)


# --- unexpected database errors: a 500 with a request id, the whole error in the log -----


def test_an_unknown_constraint_on_an_order_line_is_a_500_with_a_request_id(
    client, alice, tea, owner, shop, caplog
):
    owner.execute(
        "ALTER TABLE shop.order_lines ADD CONSTRAINT ck_order_lines_added_later"
        " CHECK (quantity < 5) NOT VALID"
    )
    response = place(client, alice, quantity=6)
    details = assert_error(response, 500, "internal_error")
    request_id = response.headers["X-Request-Id"]
    assert details == {"request_id": request_id}
    assert request_id in response.get_json()["error"]["message"]
    assert_no_database_message(response)
    assert "ck_order_lines_added_later" not in response.get_data(as_text=True)
    assert_logged(caplog, request_id, "ck_order_lines_added_later", "violates check constraint")
    assert shop.count("orders") == 0  # and nothing was stored


def test_a_client_request_id_names_the_failure_in_the_log(client, alice, tea, owner, caplog):
    owner.execute(
        "ALTER TABLE shop.order_lines ADD CONSTRAINT ck_order_lines_added_later"
        " CHECK (quantity < 5) NOT VALID"
    )
    given = f"checkout-{uuid.uuid4().hex}"
    response = client.post(
        "/api/orders",
        json={"lines": [{"sku": "TEA-1", "quantity": 6}]},
        headers={**alice.headers, "X-Request-Id": given},
    )
    assert assert_error(response, 500, "internal_error") == {"request_id": given}
    assert_logged(caplog, given, "ck_order_lines_added_later")


def test_an_unknown_error_from_a_trigger_is_a_500_not_its_message(
    client, alice, tea, owner, caplog
):
    oid = place(client, alice).get_json()["id"]
    owner.execute("CREATE SCHEMA faults")
    owner.execute(
        "CREATE FUNCTION faults.refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION USING ERRCODE = 'check_violation',"
        " MESSAGE = 'internal detail: audit table full'; END $$"
    )
    owner.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON shop.orders"
        " FOR EACH ROW EXECUTE FUNCTION faults.refuse()"
    )
    response = client.post(f"/api/orders/{oid}/cancel", headers=alice.headers)
    assert_error(response, 500, "internal_error")
    assert_no_database_message(response)
    assert_logged(caplog, response.headers["X-Request-Id"], "internal detail: audit table full")


def test_a_duplicate_key_the_storefront_does_not_know_is_a_500(client, alice, tea, owner, caplog):
    owner.execute(
        "CREATE UNIQUE INDEX uq_orders_one_placed ON shop.orders (customer_id)"
        " WHERE status = 'placed'"
    )
    assert place(client, alice).status_code == 201
    response = place(client, alice)
    assert_error(response, 500, "internal_error")
    assert_no_database_message(response)
    assert_logged(caplog, response.headers["X-Request-Id"], "duplicate key value")


def test_an_unavailable_database_is_a_503_with_a_request_id(fresh_db, caplog):
    url = fresh_db.url("storefront").replace(f"/{fresh_db.name}?", "/no_such_database?")
    app = create_app({"DATABASE_URL": url})
    try:
        response = app.test_client().get("/api/products")
    finally:
        app.extensions[EXTENSION].dispose()
    details = assert_error(response, 503, "database_unavailable")
    assert details == {"request_id": response.headers["X-Request-Id"]}
    assert_no_database_message(response)
    assert "no_such_database" not in response.get_data(as_text=True)
    assert_logged(caplog, details["request_id"], "no_such_database")


def test_the_document_promises_a_request_id_on_every_response_and_a_json_500(client):
    document = client.get("/openapi.json").get_json()
    header = document["components"]["headers"]["X-Request-Id"]
    assert header["required"] is True
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses, (path, method)
            for status, response in responses.items():
                assert response["headers"]["X-Request-Id"] == {
                    "$ref": "#/components/headers/X-Request-Id"
                }, (path, method, status)
