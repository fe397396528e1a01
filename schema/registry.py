"""The one registry of the roles that connect and the apps that run, as plain data.

The neutral package never imports an app: it knows each one by what an operator would
type — its role, the variable holding its URL, its WSGI target, the command that runs its
own migrations, the path that says it is ready. ``mergepoint up``, ``mergepoint env``, the
migration of the apps' namespaces and the tests all read this table, and nothing else.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from schema.paths import ROOT


@dataclass(frozen=True)
class Role:
    """A database role a process connects as (its name before MERGEPOINT_ROLE_PREFIX)."""

    name: str
    url_var: str  # the environment variable the role's processes read their URL from
    # Where a process of this role that must not go through a transaction pooler (an event
    # consumer, a queue worker: LISTEN, session advisory locks) reads its direct URL; the
    # web processes read url_var, which may lead to the pooler (docs/deployment.md).
    direct_url_var: str | None = None


STOREFRONT = Role("storefront", "STOREFRONT_DATABASE_URL", "STOREFRONT_DIRECT_DATABASE_URL")
BACKOFFICE = Role("backoffice", "BACKOFFICE_DATABASE_URL", "BACKOFFICE_DIRECT_DATABASE_URL")
REPORTING = Role("reporting", "REPORTING_DATABASE_URL")  # a replica, or the primary
ROLES = (STOREFRONT, BACKOFFICE, REPORTING)
ROLE_NAMES = tuple(r.name for r in ROLES)
URL_VARS = {r.name: r.url_var for r in ROLES}
DIRECT_URL_VARS = {r.name: r.direct_url_var for r in ROLES if r.direct_url_var}
# The roles whose web processes go through the pooler (`mergepoint up --pooler`).
POOLED_ROLES = tuple(DIRECT_URL_VARS)


@dataclass(frozen=True)
class App:
    """A web application: how to serve it, migrate its own namespace, and know it is up."""

    role: Role
    wsgi: str  # the WSGI target a server loads (gunicorn's APP_MODULE)
    migrate: tuple[str, ...]  # its own migration command, after the Python interpreter
    migrate_label: str  # that command as its users know it
    probe: str  # a path that answers 200 once the app is ready to serve
    default_port: int
    colour: str  # its log prefix's colour under `mergepoint up`
    mount: str  # its path prefix when both apps share one host ("" at the root)
    script_name_var: str | None = None  # how it is told that prefix, if it must be told
    consume: tuple[str, ...] = ()  # its event consumer, after the Python interpreter
    work: tuple[str, ...] = ()  # its task queue's worker (procrastinate), likewise

    @property
    def name(self) -> str:
        return self.role.name

    @property
    def port_option(self) -> str:
        return f"--{self.name}-port"

    def migrate_argv(self) -> list[str]:
        return [sys.executable, *self.migrate]

    def consume_argv(self) -> list[str]:
        return [sys.executable, *self.consume]

    def work_argv(self) -> list[str]:
        return [sys.executable, *self.work]


MANAGE_PY = str(ROOT / "apps" / "django_app" / "manage.py")

APPS = (
    App(
        role=STOREFRONT,
        wsgi="apps.flask_app:create_app()",
        migrate=("-m", "flask", "--app", "apps.flask_app", "db", "upgrade"),
        migrate_label="flask db upgrade",
        probe="/readyz",
        default_port=8000,
        colour="cyan",
        mount="",  # its API stays at /api/…; Flask follows any SCRIPT_NAME by itself
        consume=("-m", "flask", "--app", "apps.flask_app", "events", "consume"),
        # procrastinate's own command, on the storefront's queue only (alembic 0007).
        work=(
            "-m", "procrastinate", "--app", "apps.flask_app.jobs.app", "--log-level", "warning",
            "worker", "--queues", "storefront",
        ),  # fmt: skip
    ),
    App(
        role=BACKOFFICE,
        wsgi="apps.django_app.config.wsgi:application",
        migrate=(MANAGE_PY, "migrate", "--noinput"),
        migrate_label="manage.py migrate",
        probe="/admin/login/",
        default_port=8001,
        colour="magenta",
        mount="/backoffice",
        # WhiteNoise reads STATIC_URL at start: the prefix must be known before a request.
        script_name_var="DJANGO_SCRIPT_NAME",
        consume=(MANAGE_PY, "consume_events"),
        work=(MANAGE_PY, "procrastinate", "worker", "--queues", "backoffice"),
    ),
)

# Both apps in one WSGI application, dispatched by path (apps/onehost.py).
ONE_HOST_WSGI = "apps.onehost:application"
ONE_HOST_NAME = "one-host"  # its log prefix under `mergepoint up --one-host`


def app(name: str) -> App:
    for candidate in APPS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)

# What an event consumer logs once it has polled its subscription for the first time.
CONSUMER_READY = "events: consuming"
# What procrastinate's worker command prints once its connections are open.
WORKER_READY = "Launching a worker on"
