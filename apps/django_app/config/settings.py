"""The back office's settings, read from the environment (see apps/django_app/README.md).

Required: BACKOFFICE_DATABASE_URL; DJANGO_SECRET_KEY unless DJANGO_DEBUG=1.
Optional: DJANGO_DEBUG (default 0), DJANGO_ALLOWED_HOSTS (default localhost,127.0.0.1),
DJANGO_SCRIPT_NAME (a path prefix such as /backoffice; default none), BACKOFFICE_STOREFRONT_URL
(the storefront's origin for the product page's panel; default this host),
DJANGO_CSRF_TRUSTED_ORIGINS, DJANGO_STATIC_ROOT (only needed for collectstatic),
DJANGO_CONN_MAX_AGE (seconds, default 60), DJANGO_HTTPS (default 0; with it
DJANGO_HSTS_SECONDS, DJANGO_HSTS_INCLUDE_SUBDOMAINS, DJANGO_HSTS_PRELOAD),
BACKOFFICE_EXACT_COUNT_BELOW (admin lists count exactly below this size, default 10000),
BACKOFFICE_LOGIN_LIMIT_PER_USERNAME (5), BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS (20) and
BACKOFFICE_LOGIN_WINDOW (900 seconds): failed admin logins allowed per window.
"""

import os
from pathlib import Path

from apps.django_app.config import environment

ENV = os.environ
BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = environment.flag(ENV, "DJANGO_DEBUG")
SECRET_KEY = environment.secret_key(ENV, DEBUG)
ALLOWED_HOSTS = environment.csv(ENV, "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = environment.csv(ENV, "DJANGO_CSRF_TRUSTED_ORIGINS", "")

DATABASES = {"default": environment.database(ENV)}
DATABASES["default"]["CONN_MAX_AGE"] = environment.integer(ENV, "DJANGO_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "apps.django_app.config.apps.BackofficeAdminConfig",  # django.contrib.admin, our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The task queue: `manage.py procrastinate worker`, tasks deferred on Django's own
    # connection (so inside `transaction.atomic`). Its tables belong to the shared schema
    # (alembic 0007, namespace `tasks`): Django never creates or migrates them.
    "procrastinate.contrib.django",
    "apps.django_app.backoffice",
]
MIGRATION_MODULES = {"procrastinate": None}

# The back office's worker (`manage.py procrastinate worker --queues backoffice`): a
# heartbeat every BACKOFFICE_WORKER_HEARTBEAT seconds; a worker silent for three of them
# is stalled, and the sweep (backoffice/tasks.py) puts its jobs back. On Ctrl-C a running
# job is asked to stop at once (an import stops between two batches) and runs again later.
_HEARTBEAT = environment.integer(ENV, "BACKOFFICE_WORKER_HEARTBEAT", 5, minimum=1, maximum=3600)
PROCRASTINATE_WORKER_DEFAULTS = {
    "update_heartbeat_interval": _HEARTBEAT,
    "stalled_worker_timeout": 3 * _HEARTBEAT,
    "shutdown_graceful_timeout": 0,
    "delete_jobs": "successful",  # the import keeps its own record (product_imports)
    "additional_context": {"stalled_after": 3 * _HEARTBEAT},
}
PROCRASTINATE_READONLY_MODELS = True

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.django_app.backoffice.middleware.RejectNulInQueryMiddleware",
    # 503 naming `manage.py migrate` while Django's own tables are missing (needs no session)
    "apps.django_app.backoffice.middleware.RequireMigrationsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "apps.django_app.config.urls"
WSGI_APPLICATION = "apps.django_app.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Mounted under a path prefix (DJANGO_SCRIPT_NAME, e.g. /backoffice under one host with
# the storefront, or behind a proxy that strips it): links and redirects carry it, and so
# do static files. WhiteNoise reads STATIC_URL once, at start, before any request could
# tell Django its SCRIPT_NAME, so both come from this one setting, and only when mounted.
SCRIPT_NAME = environment.script_name(ENV)
FORCE_SCRIPT_NAME = SCRIPT_NAME or None

# Static files are served by WhiteNoise straight from the installed apps (its finders
# mode), so the admin has its CSS under gunicorn without a collectstatic step. Set
# DJANGO_STATIC_ROOT to collect them instead (then WhiteNoise serves that directory too).
STATIC_URL = f"{SCRIPT_NAME}/static/" if SCRIPT_NAME else "static/"
STATIC_ROOT = ENV.get("DJANGO_STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# DJANGO_HTTPS=1 in production: HTTPS only (see environment.Https for who decides that a
# request came over HTTPS: gunicorn's forwarded_allow_ips, not a header anyone can send).
_https = environment.https(ENV)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = _https.enabled
SECURE_HSTS_SECONDS = _https.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https.hsts_include_subdomains
SECURE_HSTS_PRELOAD = _https.hsts_preload
# Health probes speak plain HTTP to the app itself, from inside the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SILENCED_SYSTEM_CHECKS = [
    # W005 (HSTS without includeSubDomains) and W021 (without preload): both are opt-in on
    # purpose (DJANGO_HSTS_INCLUDE_SUBDOMAINS, DJANGO_HSTS_PRELOAD), being hard to undo:
    # they bind every subdomain, and the browsers' preload list, for months.
    "security.W005",
    "security.W021",
]
SESSION_COOKIE_HTTPONLY = True
# Path "/" even under a prefix (Django's default, said here because it matters): under one
# host the storefront's /api/staff/ endpoints receive the session cookie too, and know the
# staff member through the database (backoffice/identity.py), never through the cookie.
SESSION_COOKIE_PATH = "/"
X_FRAME_OPTIONS = "DENY"

# Failed admin logins allowed per window (seconds), by username and by client address,
# counted in the database across processes (backoffice/throttle.py).
_COUNT = {"minimum": 1, "maximum": 2**31 - 1}
BACKOFFICE_LOGIN_LIMIT_PER_USERNAME = environment.integer(
    ENV, "BACKOFFICE_LOGIN_LIMIT_PER_USERNAME", 5, **_COUNT
)
BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS = environment.integer(
    ENV, "BACKOFFICE_LOGIN_LIMIT_PER_ADDRESS", 20, **_COUNT
)
BACKOFFICE_LOGIN_WINDOW = environment.integer(ENV, "BACKOFFICE_LOGIN_WINDOW", 900, **_COUNT)
# Where the product page's "storefront view" panel fetches from: this host ("") under one
# host; with two hosts the storefront's origin (which must allow ours: STOREFRONT_CORS_ORIGINS).
BACKOFFICE_STOREFRONT_URL = environment.storefront_url(ENV)
# Admin lists estimate their size from the planner above this many rows (paginator.py).
BACKOFFICE_EXACT_COUNT_BELOW = environment.integer(ENV, "BACKOFFICE_EXACT_COUNT_BELOW", 10_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django": {
            "handlers": ["console"],
            "level": ENV.get("DJANGO_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}
