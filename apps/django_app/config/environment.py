"""Reading the back office's configuration from the environment, with one-line errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from django.core.exceptions import ImproperlyConfigured
from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

# Our own URL parameter, not libpq's: `pooler=transaction` says the URL leads to a
# transaction pooler (PgBouncer). The namespaces Django needs (`backoffice`, then `shop`)
# come from the role's own search_path (`ALTER ROLE … SET`, kept by `mergepoint migrate`),
# which reaches pooled sessions too: PgBouncer refuses startup `options`.
POOLER, TRANSACTION, PREPARE_THRESHOLD = "pooler", "transaction", "prepare_threshold"
APPLICATION_NAME = "mergepoint-backoffice"
TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


def flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false), not {raw!r}")


def integer(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ImproperlyConfigured(f"{name} must be a whole number {bounds}, not {value}")
    return value


def csv(environ: Mapping[str, str], name: str, default: str) -> list[str]:
    return [item.strip() for item in environ.get(name, default).split(",") if item.strip()]


ONE_YEAR = 365 * 24 * 3600

_SCRIPT_NAME = re.compile(r"(/[A-Za-z0-9._~-]+)+")
# An origin: scheme://host[:port], the host a name, an IPv4 or a bracketed IPv6 address.
_STOREFRONT_URL = re.compile(r"https?://(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def script_name(environ: Mapping[str, str], name: str = "DJANGO_SCRIPT_NAME") -> str:
    """The path prefix the back office is mounted under ("" at the root), e.g. /backoffice."""
    value = environ.get(name, "").strip()
    if value and not _SCRIPT_NAME.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name} must be a path prefix such as /backoffice (a leading slash, no trailing"
            f" slash), not {value!r}"
        )
    return value


def storefront_url(environ: Mapping[str, str], name: str = "BACKOFFICE_STOREFRONT_URL") -> str:
    """Where the product page's panel finds the storefront: "" for this same host."""
    value = environ.get(name, "").strip()
    if value and not _STOREFRONT_URL.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name} must be the storefront's origin, scheme://host[:port] (no path, no"
            f" trailing slash), not {value!r}; leave it unset under one host"
        )
    return value


@dataclass(frozen=True)
class Https:
    """What DJANGO_HTTPS=1 turns on: the site is HTTPS only, behind a TLS proxy.

    Whether a request came over HTTPS is the WSGI server's call, not the app's: gunicorn
    believes X-Forwarded-Proto only from the addresses in its forwarded_allow_ips
    (127.0.0.1 by default; --forwarded-allow-ips or FORWARDED_ALLOW_IPS for a proxy on
    another host), so Django does not read the header itself (no SECURE_PROXY_SSL_HEADER,
    which would believe it from anyone).
    """

    enabled: bool
    hsts_seconds: int
    hsts_include_subdomains: bool
    hsts_preload: bool


def https(environ: Mapping[str, str]) -> Https:
    if "DJANGO_SECURE_COOKIES" in environ:
        raise ImproperlyConfigured(
            "DJANGO_SECURE_COOKIES was replaced: set DJANGO_HTTPS=1 when served over HTTPS "
            "(secure cookies, HSTS, redirect to HTTPS), and unset DJANGO_SECURE_COOKIES"
        )
    enabled = flag(environ, "DJANGO_HTTPS")
    return Https(
        enabled=enabled,
        hsts_seconds=integer(environ, "DJANGO_HSTS_SECONDS", ONE_YEAR) if enabled else 0,
        # Both are hard to undo (every subdomain must then speak HTTPS; browsers ship the
        # preload list for months), so each is its own decision.
        hsts_include_subdomains=flag(environ, "DJANGO_HSTS_INCLUDE_SUBDOMAINS"),
        hsts_preload=flag(environ, "DJANGO_HSTS_PRELOAD"),
    )


def secret_key(environ: Mapping[str, str], debug: bool) -> str:
    key = environ.get("DJANGO_SECRET_KEY", "")
    if key:
        return key
    if debug:
        return "django-insecure-development-only-key"
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set: set it to a long random string"
        " (or DJANGO_DEBUG=1 for development)"
    )


def database(
    environ: Mapping[str, str], name: str = "BACKOFFICE_DATABASE_URL"
) -> dict[str, object]:
    """Django's DATABASES entry for the PostgreSQL URL in ``environ[name]``.

    The host may be a unix socket directory given as a query parameter
    (``postgresql://user@/db?host=/run/postgresql``); other query parameters
    (sslmode, connect_timeout, ...) are passed to libpq as they are, but ``pooler`` and
    ``prepare_threshold``, which are ours (see POOLER).
    """
    url = environ.get(name, "").strip()
    if not url:
        raise ImproperlyConfigured(
            f"{name} is not set: set it to the back office role's URL, "
            "e.g. postgresql://backoffice@localhost/mergepoint"
        )
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ImproperlyConfigured(f"{name} must be a postgresql:// URL, got {scheme or url!r}")
    url, ours = _own_params(name, "postgresql://" + url.partition("://")[2])
    try:
        params = conninfo_to_dict(url)
    except ProgrammingError as exc:
        reason = " ".join(str(exc).split())
        raise ImproperlyConfigured(f"{name} is not a valid PostgreSQL URL: {reason}") from exc
    dbname = params.pop("dbname", None)
    if not dbname:
        raise ImproperlyConfigured(f"{name} names no database (postgresql://user@host/DATABASE)")
    pooled = ours.get(POOLER) == TRANSACTION
    settings: dict[str, object] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": str(dbname),
        "USER": str(params.pop("user", "") or ""),
        "PASSWORD": str(params.pop("password", "") or ""),
        "HOST": str(params.pop("host", "") or ""),
        "PORT": str(params.pop("port", "") or ""),
        # A server-side cursor (`.iterator()`) outlives the transaction a pooler lends.
        "DISABLE_SERVER_SIDE_CURSORS": pooled,
    }
    options: dict[str, object] = {
        key: str(value) for key, value in params.items() if value is not None
    }
    # Named in pg_stat_activity, through a pooler too (PgBouncer passes it on).
    options.setdefault("application_name", APPLICATION_NAME)
    if PREPARE_THRESHOLD in ours:  # Django prepares nothing unless told (its default: None)
        options[PREPARE_THRESHOLD] = _threshold(name, ours[PREPARE_THRESHOLD])
    settings["OPTIONS"] = options
    return settings


def _own_params(name: str, url: str) -> tuple[str, dict[str, str]]:
    """``url`` without our own query parameters (libpq would refuse them), and those."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in (POOLER, PREPARE_THRESHOLD)}
    if len(ours) != sum(1 for k, _ in pairs if k in (POOLER, PREPARE_THRESHOLD)):
        raise ImproperlyConfigured(f"{name} gives pooler or prepare_threshold twice")
    mode = ours.get(POOLER)
    if mode is not None and mode != TRANSACTION:
        raise ImproperlyConfigured(
            f"{name} has pooler={mode!r}: the back office supports pooler={TRANSACTION}"
            " (PgBouncer in transaction mode) only"
        )
    kept = [(k, v) for k, v in pairs if k not in ours]
    return parts._replace(query=urlencode(kept, quote_via=quote)).geturl(), ours


def _threshold(name: str, raw: str) -> int | None:
    value = raw.strip().lower()
    if value in ("", "none", "off"):
        return None
    if not value.isdigit():
        raise ImproperlyConfigured(f"{name} has prepare_threshold={raw!r}: a whole number or none")
    return int(value)
