"""Round trips to the database per request, counted on the wire (libpq's protocol trace):
placing an order is one statement, a catalogue page one; no pre-ping. A pooled connection
whose backend was terminated (or whose server restarted) is replaced before anything is
sent on it, so the next request does not fail."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg.pq
import pytest
from sqlalchemy import event

from apps.flask_app.db import EXTENSION, closed_by_server
from schema import roles


class Wire:
    """The protocol messages the storefront's connections send, as libpq traces them."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.connections: list[Any] = []
        engine = app.extensions[EXTENSION]
        event.listen(engine, "connect", self._connected)
        engine.dispose()  # connections made from now on are known

    def _connected(self, dbapi_connection: Any, record: Any) -> None:
        self.connections.append(dbapi_connection)

    def count(self, request: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
        """Run ``request`` and count what the connections sent meanwhile, by message type;
        ``round_trips`` is one per Sync (extended protocol) or Query (simple protocol):
        each waits for the server's answer."""
        fd, name = tempfile.mkstemp(suffix=".trace")
        path = Path(name)
        try:
            for conn in self.connections:
                conn.pgconn.trace(fd)
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            before = len(self.connections)
            response = request()
            assert len(self.connections) == before, "the request opened a new connection"
            for conn in self.connections:
                conn.pgconn.untrace()  # flushes
            sent: dict[str, int] = {}
            for line in path.read_text().splitlines():
                fields = line.split("\t")
                if len(fields) >= 3 and fields[0] == "F":
                    kind = fields[2].split(" ", 1)[0]
                    sent[kind] = sent.get(kind, 0) + 1
            sent["round_trips"] = sent.get("Sync", 0) + sent.get("Query", 0)
            return response, sent
        finally:
            os.close(fd)
            path.unlink()


@pytest.fixture
def wire(app) -> Iterator[Wire]:
    yield Wire(app)


@pytest.fixture
def tea(shop) -> int:
    return shop.product("TEA-1", price=450, stock=1000)


def test_placing_an_order_is_one_round_trip(client, alice, tea, wire):
    order = {"lines": [{"sku": "TEA-1", "quantity": 2}]}
    first = client.post("/api/orders", json=order, headers=alice.headers)  # the connection
    assert first.status_code == 201, first.get_json()

    response, sent = wire.count(
        lambda: client.post("/api/orders", json=order, headers=alice.headers)
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["total_cents"] == 900
    assert sent["round_trips"] == 1, sent  # no pre-ping, no BEGIN, no COMMIT


def test_an_order_with_an_idempotency_key_is_one_round_trip_and_a_replay_four(
    client, alice, tea, wire
):
    client.get("/api/products")  # the connection
    headers = {**alice.headers, "Idempotency-Key": "k-1"}
    order = {"lines": [{"sku": "TEA-1", "quantity": 1}]}
    response, sent = wire.count(lambda: client.post("/api/orders", json=order, headers=headers))
    assert response.status_code == 201
    assert sent["round_trips"] == 1, sent
    # A replay is rarer: the statement inserts nothing, then the key's order is found and
    # read as GET /api/orders/<id> reads it (its head, its lines).
    again, sent = wire.count(lambda: client.post("/api/orders", json=order, headers=headers))
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.get_json() == response.get_json()
    assert sent["round_trips"] == 4, sent


def test_a_catalogue_page_is_one_round_trip(client, tea, wire):
    assert client.get("/api/products").status_code == 200  # the connection
    response, sent = wire.count(lambda: client.get("/api/products"))
    assert response.status_code == 200
    assert [p["sku"] for p in response.get_json()["items"]] == ["TEA-1"]
    assert sent["round_trips"] == 1, sent


def test_a_connection_whose_backend_was_terminated_is_replaced_before_use(
    pg, database, client, alice, tea, app
):
    engine = app.extensions[EXTENSION]
    assert not engine.pool._pre_ping
    order = {"lines": [{"sku": "TEA-1", "quantity": 1}]}
    assert client.post("/api/orders", json=order, headers=alice.headers).status_code == 201
    with engine.connect() as conn:  # the pooled connection, idle and alive
        assert not closed_by_server(conn.connection.dbapi_connection)

    storefront = roles.role_name(pg.prefix, "storefront")
    with pg.admin() as admin:
        killed = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
            " FROM pg_stat_activity WHERE datname = %s AND usename = %s",
            [database.name, storefront],
        ).fetchone()[0]
    assert killed >= 1

    # Each kind of request, straight after: none fails, nothing is retried.
    assert client.get("/api/products").status_code == 200
    assert client.post("/api/orders", json=order, headers=alice.headers).status_code == 201
    assert client.get("/api/customers/me", headers=alice.headers).status_code == 200
