"""Registration is rate limited per client address, in the database (issue 13, item 4).

The count lives in ``storefront.rate_limits``, so it holds across threads, processes and
hosts: racing clients from one address get exactly the limit, never more.
"""

from __future__ import annotations

from collections import Counter

import pytest

from apps.flask_app import create_app
from apps.flask_app.db import EXTENSION
from apps.flask_app.limits import PRUNE
from tests.concurrency import race, race_processes
from tests.flask_app.helpers import assert_error

LIMIT, WINDOW = 3, 600


@pytest.fixture
def app_config(database) -> dict[str, object]:
    # This module's own limit (3 an address per 10 minutes), and enough connections for
    # the race's threads to meet in the database.
    return {
        "DATABASE_URL": database.url("storefront"),
        "TESTING": True,
        "REGISTRATION_LIMIT": LIMIT,
        "REGISTRATION_WINDOW": WINDOW,
        "POOL_SIZE": 5,
        "POOL_MAX_OVERFLOW": 25,
        "POOL_TIMEOUT": 30,
    }


def register(client, i: int, address: str = "203.0.113.7", **body):
    return client.post(
        "/api/customers",
        json={"email": f"c{i}@example.com", "name": f"C {i}", **body},
        environ_base={"REMOTE_ADDR": address},
    )


def test_past_the_limit_registration_is_429_with_retry_after(client, shop):
    # Every attempt counts, valid or not: probing which emails are taken is limited too.
    assert register(client, 1).status_code == 201
    assert register(client, 1).status_code == 409  # email taken
    assert register(client, 2, name="").status_code == 422
    response = register(client, 3)
    details = assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW
    assert details == {"limit": LIMIT, "window_seconds": WINDOW, "retry_after": retry_after}
    assert f"retry in {retry_after} s" in response.get_json()["error"]["message"]
    assert shop.count("customers") == 1  # the refused attempt stored nothing
    # Another address is counted apart.
    assert register(client, 4, address="198.51.100.9").status_code == 201


def test_forwarding_headers_from_the_client_change_nothing(client):
    """Only REMOTE_ADDR counts (the WSGI server's word), never a header a client sends."""
    for i in range(LIMIT + 2):
        response = client.post(
            "/api/customers",
            json={"email": f"s{i}@example.com", "name": "S"},
            headers={"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"},
            environ_base={"REMOTE_ADDR": "203.0.113.7"},
        )
        assert response.status_code == (201 if i < LIMIT else 429)


def test_an_ipv6_client_is_its_64(client):
    for i in range(LIMIT):
        assert register(client, i, address=f"2001:db8:1:2::{i + 1}").status_code == 201
    assert_error(register(client, 9, address="2001:db8:1:2:ffff::9"), 429, "rate_limited")
    assert register(client, 10, address="2001:db8:1:3::1").status_code == 201


def test_the_window_ends_and_the_client_may_try_again(client, as_storefront):
    for i in range(LIMIT):
        assert register(client, i).status_code == 201
    assert_error(register(client, 10), 429, "rate_limited")
    # The window's end, reached (the database's clock decides).
    as_storefront.execute(
        "UPDATE storefront.rate_limits SET window_ends = now() WHERE bucket = %s",
        ["registration:203.0.113.7"],
    )
    assert register(client, 11).status_code == 201
    [(hits,)] = as_storefront.execute(
        "SELECT hits FROM storefront.rate_limits WHERE bucket = 'registration:203.0.113.7'"
    ).fetchall()
    assert hits == 1  # a new window


def test_ended_windows_are_pruned_as_hits_come(client, as_storefront):
    as_storefront.execute(
        "INSERT INTO storefront.rate_limits (bucket, window_ends, hits)"
        " SELECT 'registration:old-' || n, now() - interval '1 minute', 5"
        " FROM generate_series(1, %s) n",
        [PRUNE + 5],
    )
    assert register(client, 1).status_code == 201
    count = "SELECT count(*) FROM storefront.rate_limits WHERE bucket LIKE 'registration:old-%%'"
    assert as_storefront.execute(count).fetchone()[0] == 5
    assert register(client, 2).status_code == 201
    assert as_storefront.execute(count).fetchone()[0] == 0


def test_the_limit_comes_from_the_environment(monkeypatch, database):
    monkeypatch.setenv("STOREFRONT_REGISTRATION_LIMIT", "7")
    monkeypatch.setenv("STOREFRONT_REGISTRATION_WINDOW", "60")
    app = create_app({"DATABASE_URL": database.url("storefront")})
    try:
        assert (app.config["REGISTRATION_LIMIT"], app.config["REGISTRATION_WINDOW"]) == (7, 60)
    finally:
        app.extensions[EXTENSION].dispose()


def test_the_defaults_are_twenty_an_hour(database):
    app = create_app({"DATABASE_URL": database.url("storefront")})
    try:
        assert (app.config["REGISTRATION_LIMIT"], app.config["REGISTRATION_WINDOW"]) == (20, 3600)
    finally:
        app.extensions[EXTENSION].dispose()


def test_the_document_announces_the_429_and_its_retry_after(client):
    document = client.get("/openapi.json").get_json()
    responses = document["paths"]["/api/customers"]["post"]["responses"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert "429" not in document["paths"]["/api/customers/me"]["get"]["responses"]


# --- races -------------------------------------------------------------------------------

RACERS = 20


@pytest.mark.slow
def test_racing_threads_from_one_address_get_exactly_the_limit(app, shop):
    def attempt(i: int) -> int:
        return register(app.test_client(), i).status_code

    results = race(RACERS, attempt)
    assert Counter(results) == {201: LIMIT, 429: RACERS - LIMIT}, results
    assert shop.count("customers") == LIMIT


def register_in_a_process(barrier, i: int, config: dict[str, object]) -> int:
    """One storefront process (its own app, its own connections) registering once."""
    app = create_app(config)
    try:
        client = app.test_client()
        client.get("/readyz")  # connected and ready before the start
        barrier.wait(60)
        return register(client, i).status_code
    finally:
        app.extensions[EXTENSION].dispose()


@pytest.mark.slow
def test_racing_processes_share_the_limit(app_config, shop):
    config = {**app_config, "POOL_SIZE": 1, "POOL_MAX_OVERFLOW": 0}
    results = race_processes(6, register_in_a_process, config)
    assert Counter(results) == {201: LIMIT, 429: 6 - LIMIT}, results
    assert shop.count("customers") == LIMIT
