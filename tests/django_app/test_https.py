"""DJANGO_HTTPS=1, the one production switch: `check --deploy` is clean, and gunicorn serves
it as documented (redirect to HTTPS, HSTS, secure cookies, X-Forwarded-Proto trusted only
from the proxy gunicorn's forwarded_allow_ips names)."""

from __future__ import annotations

import secrets

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.django_app.config import environment
from tests.django_app.test_settings import run_manage
from tests.reliability.conftest import BACKOFFICE_WSGI, backoffice_env, gunicorn

ONE_YEAR = 365 * 24 * 3600


def production_env(url: str = "postgresql://bo@/db?host=/tmp", **extra: str) -> dict[str, str]:
    return {
        "BACKOFFICE_DATABASE_URL": url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "backoffice.example.com",
        **extra,
    }


def test_check_deploy_is_clean_with_django_https():
    result = run_manage(
        production_env(DJANGO_HTTPS="1"), "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (2 silenced)." in result.stdout


def test_without_it_check_deploy_names_what_is_missing():
    result = run_manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 1
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"(security.{warning})" in result.stderr, result.stderr


def test_the_switch_and_its_opt_ins():
    off = environment.https({})
    assert (off.enabled, off.hsts_seconds, off.hsts_include_subdomains, off.hsts_preload) == (
        False,
        0,
        False,
        False,
    )
    on = environment.https({"DJANGO_HTTPS": "1"})
    assert (on.enabled, on.hsts_seconds) == (True, ONE_YEAR)
    assert not on.hsts_include_subdomains and not on.hsts_preload  # hard to undo: opt-in
    everything = environment.https(
        {
            "DJANGO_HTTPS": "1",
            "DJANGO_HSTS_SECONDS": "600",
            "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
            "DJANGO_HSTS_PRELOAD": "1",
        }
    )
    assert (everything.hsts_seconds, everything.hsts_include_subdomains) == (600, True)
    assert everything.hsts_preload


def test_the_old_variable_is_refused_with_the_new_name():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECURE_COOKIES .*DJANGO_HTTPS=1"):
        environment.https({"DJANGO_SECURE_COOKIES": "1"})
    result = run_manage(production_env(DJANGO_SECURE_COOKIES="1"), "check")
    assert result.returncode == 2
    assert result.stderr.startswith("error: DJANGO_SECURE_COOKIES")
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_under_gunicorn_behind_a_trusted_proxy(session_db, tmp_path):
    env = backoffice_env(session_db.url("backoffice"), DJANGO_HTTPS="1")
    log = tmp_path / "backoffice.log"
    # gunicorn trusts X-Forwarded-Proto from forwarded_allow_ips: 127.0.0.1 by default.
    with gunicorn(BACKOFFICE_WSGI, env, log, probe="/readyz", workers=1) as bo:
        with httpx.Client(base_url=bo.base, timeout=10) as http:
            plain = http.get("/admin/login/")
            assert plain.status_code == 301
            assert (
                plain.headers["Location"]
                == f"https://{bo.base.removeprefix('http://')}/admin/login/"
            )

            proxied = http.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
            assert proxied.status_code == 200
            assert proxied.headers["Strict-Transport-Security"] == f"max-age={ONE_YEAR}"
            cookie = proxied.headers["Set-Cookie"]
            assert cookie.startswith("csrftoken=") and "; Secure" in cookie, cookie

            # Probes speak plain HTTP to the app itself: no redirect for them.
            assert http.get("/readyz").json() == {"status": "ready"}
            assert http.get("/healthz").json() == {"status": "ok"}


@pytest.mark.slow
def test_under_gunicorn_x_forwarded_proto_from_anyone_else_is_ignored(session_db, tmp_path):
    env = backoffice_env(session_db.url("backoffice"), DJANGO_HTTPS="1")
    log = tmp_path / "backoffice.log"
    # The proxy is elsewhere (10.9.8.7): a client on 127.0.0.1 cannot claim HTTPS.
    args = ("--forwarded-allow-ips", "10.9.8.7")
    with gunicorn(BACKOFFICE_WSGI, env, log, probe="/readyz", workers=1, args=args) as bo:
        with httpx.Client(base_url=bo.base, timeout=10) as http:
            spoofed = http.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
            assert spoofed.status_code == 301
            assert spoofed.headers["Location"].startswith("https://")
            assert "Strict-Transport-Security" not in spoofed.headers
