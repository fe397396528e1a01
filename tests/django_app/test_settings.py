"""Settings come from the environment; a bad environment is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.django_app.config import environment
from schema.paths import ROOT
from tests.support import one_line_error

MANAGE = ROOT / "apps" / "django_app" / "manage.py"


def test_a_unix_socket_url():
    db = environment.database(
        {"BACKOFFICE_DATABASE_URL": "postgresql://bo@/mergepoint?host=%2Ftmp%2Fpg%20dir"}
    )
    assert db["NAME"] == "mergepoint"
    assert db["USER"] == "bo"
    assert db["HOST"] == "/tmp/pg dir"
    assert (db["PASSWORD"], db["PORT"]) == ("", "")
    # The search path comes from the role (`ALTER ROLE … SET`): no startup options, which a
    # pooler would refuse. Named in pg_stat_activity.
    assert db["OPTIONS"] == {"application_name": "mergepoint-backoffice"}
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is False


def test_a_tcp_url_with_libpq_parameters():
    url = (
        "postgres://bo:s%40cret@db.example:6543/shop_db?sslmode=require"
        "&options=-c%20statement_timeout%3D5s"
    )
    db = environment.database({"BACKOFFICE_DATABASE_URL": url})
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "bo",
        "s@cret",
        "db.example",
        "6543",
        "shop_db",
    )
    assert db["OPTIONS"] == {
        "sslmode": "require",
        "options": "-c statement_timeout=5s",
        "application_name": "mergepoint-backoffice",
    }


def test_a_pooled_url_turns_off_server_side_cursors_and_passes_no_startup_options():
    url = "postgresql://bo:pw@pooler.internal:6432/shop?pooler=transaction&application_name=bo-7"
    db = environment.database({"BACKOFFICE_DATABASE_URL": url})
    assert (db["HOST"], db["PORT"], db["NAME"]) == ("pooler.internal", "6432", "shop")
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert db["OPTIONS"] == {"application_name": "bo-7"}  # `pooler` is ours, not libpq's
    on = environment.database({"BACKOFFICE_DATABASE_URL": url + "&prepare_threshold=5"})
    assert on["OPTIONS"]["prepare_threshold"] == 5


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("pooler=session", "supports pooler=transaction"),
        ("pooler=transaction&pooler=transaction", "gives pooler or prepare_threshold twice"),
        ("pooler=transaction&prepare_threshold=soon", "prepare_threshold='soon'"),
    ],
)
def test_a_bad_pooler_parameter_is_one_clear_line(query, message):
    with pytest.raises(ImproperlyConfigured) as raised:
        environment.database({"BACKOFFICE_DATABASE_URL": f"postgresql://bo@h/db?{query}"})
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "BACKOFFICE_DATABASE_URL is not set"),
        ("mysql://x@y/z", "must be a postgresql:// URL"),
        ("postgresql://bo@localhost", "names no database"),
        ("postgresql://bo@localhost:notaport/db?bogus=1", "not a valid PostgreSQL URL"),
    ],
)
def test_a_bad_database_url_is_one_clear_line(url, message):
    with pytest.raises(ImproperlyConfigured) as raised:
        environment.database({"BACKOFFICE_DATABASE_URL": url})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_secret_key_is_required_unless_debugging():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is not set"):
        environment.secret_key({}, debug=False)
    assert environment.secret_key({}, debug=True).startswith("django-insecure")
    assert environment.secret_key({"DJANGO_SECRET_KEY": "k" * 50}, debug=False) == "k" * 50


def test_flags_and_numbers():
    assert environment.flag({}, "DJANGO_DEBUG") is False
    assert environment.flag({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG") is True
    assert environment.flag({"DJANGO_DEBUG": "off"}, "DJANGO_DEBUG") is False
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG must be 1 or 0"):
        environment.flag({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        environment.integer({"DJANGO_CONN_MAX_AGE": "soon"}, "DJANGO_CONN_MAX_AGE", 60)
    assert environment.csv({}, "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1") == [
        "localhost",
        "127.0.0.1",
    ]


def test_bounded_numbers():
    name = "BACKOFFICE_LOGIN_LIMIT_PER_USERNAME"
    assert environment.integer({name: "7"}, name, 5, minimum=1) == 7
    for raw in ("0", "-3"):
        with pytest.raises(
            ImproperlyConfigured, match=f"^{name} must be a whole number at least 1"
        ):
            environment.integer({name: raw}, name, 5, minimum=1)
    with pytest.raises(ImproperlyConfigured, match="from 1 to 10, not 11$"):
        environment.integer({name: "11"}, name, 5, minimum=1, maximum=10)


@pytest.mark.parametrize("value", ["backoffice", "/backoffice/", "/back office", "/a//b", "/"])
def test_a_script_name_that_is_not_a_path_prefix_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SCRIPT_NAME must be a path prefix"):
        environment.script_name({"DJANGO_SCRIPT_NAME": value})


def test_script_name_and_storefront_url_accept_what_they_should():
    assert environment.script_name({}) == ""
    assert environment.script_name({"DJANGO_SCRIPT_NAME": "/eu/backoffice"}) == "/eu/backoffice"
    assert environment.storefront_url({}) == ""
    for url in ("http://127.0.0.1:8000", "https://shop.example.com", "http://[::1]:8000"):
        assert environment.storefront_url({"BACKOFFICE_STOREFRONT_URL": url}) == url
    for url in ("shop.example.com", "http://shop.example.com/", "javascript:alert(1)"):
        with pytest.raises(ImproperlyConfigured, match="BACKOFFICE_STOREFRONT_URL must be"):
            environment.storefront_url({"BACKOFFICE_STOREFRONT_URL": url})


def test_mounted_under_a_prefix_links_and_static_files_carry_it(session_db):
    """What apps/onehost.py sets for the back office: FORCE_SCRIPT_NAME and a prefixed
    STATIC_URL from the one variable (a fresh process: settings are read at start)."""
    env = {
        "BACKOFFICE_DATABASE_URL": session_db.url("backoffice"),
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_SCRIPT_NAME": "/backoffice",
    }
    script = (
        "from django.conf import settings;"
        " from django.templatetags.static import static;"
        " print(settings.FORCE_SCRIPT_NAME, settings.STATIC_URL, settings.SESSION_COOKIE_PATH,"
        " static('admin/css/base.css'))"
    )
    result = run_manage(env, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "/backoffice",
        "/backoffice/static/",
        "/",
        "/backoffice/static/admin/css/base.css",
    ]
    plain = run_manage({**env, "DJANGO_SCRIPT_NAME": ""}, "shell", "-c", script)
    assert plain.stdout.splitlines()[-1].split() == [
        "None",
        "/static/",
        "/",
        "/static/admin/css/base.css",
    ]


def test_settings_defaults(settings):
    assert settings.DEBUG is False
    assert (
        settings.BACKOFFICE_LOGIN_LIMIT_PER_USERNAME,
        settings.BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS,
        settings.BACKOFFICE_LOGIN_WINDOW,
    ) == (5, 20, 900)
    assert "localhost" in settings.ALLOWED_HOSTS and "127.0.0.1" in settings.ALLOWED_HOSTS
    assert "options" not in settings.DATABASES["default"]["OPTIONS"]


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_SECRET_KEY": "x"}, "error: BACKOFFICE_DATABASE_URL is not set"),
        (
            {"BACKOFFICE_DATABASE_URL": "postgresql://bo@/db?host=/tmp"},
            "error: DJANGO_SECRET_KEY is not set",
        ),
        (
            {"BACKOFFICE_DATABASE_URL": "postgresql://bo@/db", "DJANGO_DEBUG": "perhaps"},
            "error: DJANGO_DEBUG must be 1 or 0",
        ),
        (
            {
                "BACKOFFICE_DATABASE_URL": "postgresql://bo@/db",
                "DJANGO_SECRET_KEY": "x",
                "BACKOFFICE_LOGIN_WINDOW": "0",
            },
            "error: BACKOFFICE_LOGIN_WINDOW must be a whole number from 1 to 2147483647, not 0",
        ),
        (
            {
                "BACKOFFICE_DATABASE_URL": "postgresql://bo@/db",
                "DJANGO_SECRET_KEY": "x",
                "DJANGO_SCRIPT_NAME": "backoffice/",
            },
            "error: DJANGO_SCRIPT_NAME must be a path prefix",
        ),
    ],
)
def test_manage_py_reports_a_bad_environment_in_one_line(env, message):
    result = run_manage(env, "check")
    assert result.returncode == 2
    assert one_line_error(result.stderr).startswith(message)


def test_manage_py_runs_from_any_directory_with_a_good_environment(session_db, tmp_path):
    env = {"BACKOFFICE_DATABASE_URL": session_db.url("backoffice"), "DJANGO_SECRET_KEY": "x" * 50}
    result = subprocess.run(
        [sys.executable, str(MANAGE), "check"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_manage_py_reports_an_unreachable_database_in_one_line(tmp_path):
    env = {
        "BACKOFFICE_DATABASE_URL": f"postgresql://nobody@/db?host={tmp_path}",
        "DJANGO_SECRET_KEY": "x" * 50,
    }
    result = run_manage(env, "migrate", "--noinput")
    assert result.returncode == 1
    line = one_line_error(result.stderr)
    assert line.startswith("error: cannot use the database (BACKOFFICE_DATABASE_URL):")
