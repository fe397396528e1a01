"""Staff sessions in the shared schema follow the back office's logins, users and sessions.

Each test logs in through the admin's real login view, then checks what the storefront's
role would find (identity.staff_session, by the hash of the cookie) — the only way any app
can see a staff session. Whoever changes a user (the admin's forms, a queryset update(),
plain SQL), its triggers end that user's staff sessions.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.sessions.models import Session
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.django_app.backoffice import identity
from tests.concurrency import race
from tests.data import key_hash, unique
from tests.django_app.conftest import make_user

pytestmark = pytest.mark.usefixtures("committed_db")

PASSWORD = "correct horse battery staple"


def log_in(user: User) -> Client:
    client = Client()
    response = client.post(
        reverse("admin:login"),
        {"username": user.username, "password": PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302, response.content[:500]
    return client


def cookie(client: Client) -> str:
    return client.cookies["sessionid"].value


def found(storefront_conn, key: str) -> list[tuple]:
    """What the storefront's role finds for this session key."""
    return storefront_conn.execute(
        "SELECT user_id, username, is_superuser, permissions FROM identity.staff_session(%s)",
        [key_hash(key)],
    ).fetchall()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Every test here hashes passwords (users, logins): the fast hasher Django's docs
    suggest for tests; what is under test is what happens around the login."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clerk_user() -> User:
    return make_user(clerk=True, password=PASSWORD)


def test_login_begins_a_staff_session_with_the_users_permissions(clerk_user, storefront_conn):
    key = cookie(log_in(clerk_user))
    [(user_id, username, is_superuser, permissions)] = found(storefront_conn, key)
    assert (user_id, username, is_superuser) == (clerk_user.pk, clerk_user.username, False)
    assert permissions == sorted(clerk_user.get_all_permissions())
    assert "backoffice.view_order" in permissions and "backoffice.add_product" not in permissions


def test_the_staff_session_expires_with_the_django_session(clerk_user, storefront_conn):
    client = log_in(clerk_user)
    expiry = Session.objects.get(session_key=cookie(client)).expire_date
    row = storefront_conn.execute(
        "SELECT expires_at FROM identity.staff_session(%s)", [key_hash(cookie(client))]
    ).fetchone()
    assert abs(row[0] - expiry) < timedelta(seconds=5)


def test_logout_ends_it(clerk_user, storefront_conn):
    client = log_in(clerk_user)
    key = cookie(client)
    assert client.post(reverse("admin:logout")).status_code == 200
    assert found(storefront_conn, key) == []


def test_a_password_changed_by_an_admin_ends_every_session_of_the_user(clerk_user, storefront_conn):
    first, second = cookie(log_in(clerk_user)), cookie(log_in(clerk_user))
    other = make_user(clerk=True, password=PASSWORD)
    bystander = cookie(log_in(other))
    admin = Client()
    admin.force_login(make_user(superuser=True))
    response = admin.post(
        reverse("admin:auth_user_password_change", args=[clerk_user.pk]),
        {"password1": "a new long passphrase", "password2": "a new long passphrase",
         "usable_password": "true"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:1000]
    assert found(storefront_conn, first) == [] and found(storefront_conn, second) == []
    assert found(storefront_conn, bystander) != []


def test_changing_ones_own_password_ends_the_old_cookies_session(clerk_user, storefront_conn):
    client = log_in(clerk_user)
    old = cookie(client)
    response = client.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": "a new long passphrase",
         "new_password2": "a new long passphrase"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:1000]
    assert cookie(client) != old  # Django keeps them logged in under a new key...
    assert found(storefront_conn, old) == []
    # ...which the storefront does not know: a password change asks for a new login.
    assert found(storefront_conn, cookie(client)) == []


@pytest.mark.parametrize(
    "change",
    [
        "deactivate_with_update",
        "unstaff_with_save",
        "unsuperuser",
        "rename",
        "delete_user",
        "leave_group",
        "lose_a_permission",
        "group_loses_a_permission",
        "sql_by_hand",
        "delete_session_row",
    ],
)
def test_whoever_changes_the_user_ends_their_sessions(change, storefront_conn):
    user = make_user(clerk=True, password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    if change == "unsuperuser":
        User.objects.filter(pk=user.pk).update(is_superuser=True)
    key = cookie(log_in(user))
    assert found(storefront_conn, key) != []
    clerks = Group.objects.get(name="clerks")
    if change == "deactivate_with_update":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif change == "unstaff_with_save":
        user.is_staff = False
        user.save()
    elif change == "unsuperuser":
        User.objects.filter(pk=user.pk).update(is_superuser=False)
    elif change == "rename":
        User.objects.filter(pk=user.pk).update(username=unique("renamed").lower())
    elif change == "delete_user":
        user.delete()
    elif change == "leave_group":
        user.groups.remove(clerks)
    elif change == "lose_a_permission":
        user.user_permissions.clear()
    elif change == "group_loses_a_permission":
        group = Group.objects.create(name=unique("team"))
        group.permissions.add(Permission.objects.get(codename="view_group"))
        user.groups.add(group)
        group.permissions.clear()
    elif change == "sql_by_hand":
        with connection.cursor() as cursor:
            cursor.execute("UPDATE auth_user SET password = 'x' WHERE id = %s", [user.pk])
    elif change == "delete_session_row":
        Session.objects.filter(session_key=key).delete()
    assert found(storefront_conn, key) == []


def test_unrelated_changes_keep_the_session(clerk_user, storefront_conn):
    key = cookie(log_in(clerk_user))
    clerk_user.first_name = "Grace"
    clerk_user.save()
    clerk_user.groups.add(Group.objects.create(name=unique("more")))
    User.objects.filter(pk=clerk_user.pk).update(last_login=timezone.now())
    assert found(storefront_conn, key) != []


def test_no_session_begins_for_a_user_who_changed_since_authenticating(clerk_user, storefront_conn):
    stale = User.objects.get(pk=clerk_user.pk)  # as authenticate() returned it
    User.objects.filter(pk=clerk_user.pk).update(is_active=False)
    expires = timezone.now() + timedelta(hours=1)
    assert identity.begin(stale, "k" + unique().lower(), expires) is False
    User.objects.filter(pk=clerk_user.pk).update(is_active=True, password="changed")
    assert identity.begin(stale, "k" + unique().lower(), expires) is False


def test_a_longer_django_session_is_known_for_30_days(clerk_user, storefront_conn):
    key = "k" + unique().lower()
    assert identity.begin(clerk_user, key, timezone.now() + timedelta(days=400))
    row = storefront_conn.execute(
        "SELECT expires_at FROM identity.staff_session(%s)", [key_hash(key)]
    ).fetchone()
    assert row[0] <= timezone.now() + timedelta(days=30)


CHANGES = {
    "deactivate": lambda user: User.objects.filter(pk=user.pk).update(is_active=False),
    "password": lambda user: User.objects.filter(pk=user.pk).update(password="changed"),
    "leave_group": lambda user: user.groups.clear(),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_login_racing_a_change_never_leaves_a_stale_session(change, storefront_conn):
    """Login (identity.begin) and a change of the user start together on a barrier, many
    times: whichever commits first, no staff session outlives the user it describes (none
    for a deactivated user or a changed password; the permissions the user has now)."""
    seen: set[int] = set()
    for _round in range(15):
        user = make_user(clerk=True, password=PASSWORD)
        key = "k" + unique().lower()
        expires = timezone.now() + timedelta(hours=1)

        def work(i: int, user: User = user, key: str = key, expires=expires) -> object:
            try:
                if i == 0:
                    return identity.begin(user, key, expires)
                return CHANGES[change](user)
            finally:
                connections["default"].close()  # this thread's own connection

        outcomes = race(2, work)
        assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
        sessions = found(storefront_conn, key)
        if change == "leave_group":  # a session may remain, with today's permissions
            now = User.objects.get(pk=user.pk)
            assert [s[3] for s in sessions] in ([], [sorted(now.get_all_permissions())])
            seen.add(len(sessions))
        else:
            assert sessions == [], (change, outcomes)
    if change == "leave_group":
        assert seen, "no round ran"
