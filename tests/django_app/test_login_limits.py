"""Failed admin logins are limited per username and per client address (issue 13, item 4).

Counted in ``backoffice.login_failures`` before the password is checked, so racing
attempts never try more passwords than the limit; past it the login page answers 429
with Retry-After and says why, without checking the password.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import connections
from django.test import Client

from apps.django_app.backoffice.models import LoginFailure
from tests.concurrency import race
from tests.django_app.conftest import make_user

LOGIN = "/admin/login/"
WRONG = "Please enter the correct username and password"
TOO_MANY = "Too many failed logins for this username or from your address."
PASSWORD = "correct horse battery staple"
PER_USERNAME, PER_ADDRESS, WINDOW = 3, 5, 600

_addresses = itertools.count(1)


def new_address() -> str:
    """An address no other test used (the session database keeps committed counts)."""
    n = next(_addresses)
    return f"192.0.2.{n}" if n < 255 else f"2001:db8:{n:x}::1"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.BACKOFFICE_LOGIN_LIMIT_PER_USERNAME = PER_USERNAME
    settings.BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS = PER_ADDRESS
    settings.BACKOFFICE_LOGIN_WINDOW = WINDOW


def login(client: Client, username: str, password: str, address: str):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_past_the_limit_even_the_right_password_is_refused_with_429(client):
    user = make_user(password=PASSWORD)
    address = new_address()
    for _ in range(PER_USERNAME):
        response = login(client, user.username, "wrong", address)
        assert response.status_code == 200 and WRONG in response.content.decode()
    response = login(client, user.username, PASSWORD, address)
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= WINDOW
    page = response.content.decode()
    assert TOO_MANY in page and "Try again in 10 minutes." in page
    assert not logged_in(client)
    # The username is limited from anywhere: another address cannot try it either.
    assert login(client, user.username, PASSWORD, new_address()).status_code == 429


@pytest.mark.django_db
def test_an_address_is_limited_across_usernames(client):
    user = make_user(password=PASSWORD)
    address = new_address()
    for i in range(PER_ADDRESS):
        assert login(client, f"nobody{i}", "guess", address).status_code == 200
    assert login(client, user.username, PASSWORD, address).status_code == 429
    assert not logged_in(client)
    assert login(client, user.username, PASSWORD, new_address()).status_code == 302
    assert logged_in(client)


@pytest.mark.django_db
def test_forwarding_headers_from_the_client_change_nothing(client):
    """Only REMOTE_ADDR counts (the WSGI server's word), never a header a client sends."""
    address = new_address()
    for i in range(PER_ADDRESS + 1):
        response = client.post(
            LOGIN,
            {"username": f"guess{i}", "password": "guess"},
            REMOTE_ADDR=address,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
            HTTP_X_REAL_IP=f"198.51.100.{i}",
        )
        assert response.status_code == (200 if i < PER_ADDRESS else 429)


@pytest.mark.django_db
def test_a_success_clears_the_usernames_failures(client):
    user = make_user(password=PASSWORD)
    address = new_address()
    for _ in range(PER_USERNAME - 1):
        assert login(client, user.username, "wrong", address).status_code == 200
    assert login(client, user.username, PASSWORD, address).status_code == 302
    client.logout()
    counts = dict(LoginFailure.objects.values_list("bucket", "failures"))
    assert counts[f"username:{user.username}"] == 0
    assert counts[f"address:{address}"] == PER_USERNAME - 1  # the success was taken back
    for _ in range(PER_USERNAME):
        assert login(client, user.username, "wrong", address).status_code == 200
    assert login(client, user.username, "wrong", address).status_code == 429


@pytest.mark.django_db
def test_spelling_the_username_differently_does_not_escape_its_count(client):
    user = make_user(password=PASSWORD)
    spellings = [user.username.upper(), user.username.title(), user.username]
    for spelling in spellings[:PER_USERNAME]:
        assert login(client, spelling, "wrong", new_address()).status_code == 200
    assert login(client, user.username, PASSWORD, new_address()).status_code == 429


@pytest.mark.django_db
def test_when_the_window_ends_logins_are_checked_again(client):
    user = make_user(password=PASSWORD)
    address = new_address()
    for _ in range(PER_USERNAME + 2):
        login(client, user.username, "wrong", address)
    assert login(client, user.username, PASSWORD, address).status_code == 429
    LoginFailure.objects.filter(
        bucket__in=[f"username:{user.username}", f"address:{address}"]
    ).update(window_ends=datetime(2000, 1, 1, tzinfo=UTC))
    assert login(client, user.username, PASSWORD, address).status_code == 302


@pytest.mark.django_db
def test_an_incomplete_form_counts_nothing(client):
    response = client.post(
        LOGIN, {"username": "someone", "password": ""}, REMOTE_ADDR="192.0.2.250"
    )
    assert response.status_code == 200
    assert not LoginFailure.objects.filter(bucket="username:someone").exists()


@pytest.mark.slow
def test_racing_attempts_never_check_more_passwords_than_the_limit(committed_db):
    user = make_user(password=PASSWORD)
    address = new_address()
    racers = 12

    def attempt(i: int) -> int:
        try:
            response = login(Client(), user.username, "wrong", address)
            return response.status_code
        finally:
            connections.close_all()

    try:
        results = race(racers, attempt)
        # Exactly PER_USERNAME passwords were checked (and failed): 200 with the form's
        # error; every other attempt was refused unchecked.
        assert Counter(results) == {200: PER_USERNAME, 429: racers - PER_USERNAME}, results
        counts = dict(LoginFailure.objects.values_list("bucket", "failures"))
        assert counts[f"username:{user.username}"] == racers
    finally:
        LoginFailure.objects.filter(
            bucket__in=[f"username:{user.username}", f"address:{address}"]
        ).delete()
        user.delete()
