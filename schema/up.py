"""``mergepoint up``: the whole system on one machine, each part as its own process.

Database (embedded unless MERGEPOINT_DATABASE_URL), shared migrations and roles, each app's
own migrations through the app's own command, demo data when the shop is empty, a staff
user, then the storefront and the back office under granian (or gunicorn: schema.servers),
each with only its own role's URL. Ctrl-C (or SIGTERM) stops both, and the embedded server
too if this run started it.

With ``one_host`` both apps run in one server instead (apps/onehost.py: the storefront
at ``/``, the back office at ``/backoffice/``), that one process holding both roles' URLs.

With ``--pooler``/``--replica``/``--storefront-processes N`` (schema.fleet) PgBouncer and
a read replica run too, and the web apps go through the pooler; migrations and the staff
user always connect directly.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from schema import db, deploy, embedded, fleet, registry, servers, stack, supervisor
from schema.errors import MergepointError
from schema.paths import ROOT
from schema.ports import ensure_port_free
from schema.registry import APPS, CONSUMER_READY, MANAGE_PY, ONE_HOST_NAME, ONE_HOST_WSGI, App
from schema.registry import app as app_named
from schema.supervisor import Spec
from schema.urls import redact, validate_url

ENV_ADMIN_USER = "MERGEPOINT_ADMIN_USER"
ENV_ADMIN_PASSWORD = "MERGEPOINT_ADMIN_PASSWORD"
DEMO = {"customers": 200, "products": 60, "orders": 2_000}  # sizes for seed_shop


@dataclass
class Options:
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(
        default_factory=lambda: {app.name: app.default_port for app in APPS}
    )
    workers: int = 2
    server: str = servers.DEFAULT  # the WSGI server both apps run under (schema.servers)
    seed: bool = True
    access_log: bool = False  # errors are always shown; every request only if asked
    ready_timeout: float = 60.0
    one_host: int | None = None  # the one port both apps share, or None: one port each
    scale: fleet.Scale = field(default_factory=fleet.Scale)

    def port(self, app: App) -> int:
        return self.ports[app.name]

    def base_url(self, app: App) -> str:
        """Where ``app`` answers: its own port, or its mount on the shared one."""
        if self.one_host is not None:
            return f"http://{self.host}:{self.one_host}{app.mount}"
        return f"http://{self.host}:{self.port(app)}"


def secret_key(directory: Path) -> str:
    """The back office's secret key: generated once, kept (0600) in the data directory."""
    path = directory / "django-secret-key"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def backoffice_env(url: str, key: str, base: Mapping[str, str]) -> dict[str, str]:
    env = stack.app_env("backoffice", url, base)
    env.update(
        DJANGO_SECRET_KEY=key,
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS=env.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1"),
    )
    return env


def ensure_staff_user(env: Mapping[str, str]) -> tuple[str, str | None]:
    """Create the first superuser unless it exists; (username, password if just created)."""
    username = env.get(ENV_ADMIN_USER, "admin")
    password = env.get(ENV_ADMIN_PASSWORD) or secrets.token_urlsafe(12)
    result = subprocess.run(
        [sys.executable, MANAGE_PY, "createsuperuser", "--noinput"],
        cwd=ROOT,
        env={
            **env,
            "DJANGO_SUPERUSER_USERNAME": username,
            "DJANGO_SUPERUSER_PASSWORD": password,
            "DJANGO_SUPERUSER_EMAIL": f"{username}@localhost",
        },
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    if result.returncode == 0:
        return username, password
    if "already taken" in output:
        return username, None
    last = output.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
    raise MergepointError(f"could not create the staff user {username!r}: {last[0]}")


def seed_if_empty(owner_url: str, console: Console) -> str:
    from schema.seed import seed_shop

    with db.owner_connect(owner_url, autocommit=True) as conn:  # seed_shop runs its own transaction
        row = conn.execute("SELECT count(*) FROM shop.products").fetchone()
        if row and row[0]:
            return f"demo data: kept ({row[0]} products already)"
        with console.status("seeding demo data…"):
            report = seed_shop(
                conn,
                customers=DEMO["customers"],
                products=DEMO["products"],
                orders=DEMO["orders"],
                seed=42,
            )
    return (
        f"demo data: {report.customers} customers, {report.products} products,"
        f" {report.orders} orders"
    )


def sample_sku(owner_url: str) -> str:
    with db.owner_connect(owner_url) as conn:
        row = conn.execute(
            "SELECT sku FROM shop.products WHERE active AND stock > 0 ORDER BY id LIMIT 1"
        ).fetchone()
    return row[0] if row else "SKU"


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: ``url`` answers 200."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return probe


def consumer_spec(app: App, env: Mapping[str, str]) -> Spec:
    """The app's event consumer, as its users run it (``flask … events consume``)."""
    return Spec(
        name=f"{app.name}-events",
        argv=app.consume_argv(),
        env=env,
        colour=app.colour,
        cwd=ROOT,
        ready_line=CONSUMER_READY,
    )


def worker_spec(app: App, env: Mapping[str, str]) -> Spec:
    """The app's task queue worker, as its users run it (procrastinate's ``worker``)."""
    return Spec(
        name=f"{app.name}-worker",
        argv=app.work_argv(),
        env=env,
        colour=app.colour,
        cwd=ROOT,
        ready_line=registry.WORKER_READY,
    )


def server_argv(
    options: Options, port: int, target: str, *, reuse_port: bool = False
) -> list[str]:
    """The WSGI server's command line for ``target`` (schema.servers)."""
    serve = servers.Serve(
        host=options.host,
        port=port,
        workers=options.workers,
        access_log=options.access_log,
        reuse_port=reuse_port,
    )
    return servers.argv(options.server, target, serve)


def app_specs(app: App, options: Options, env: Mapping[str, str]) -> list[Spec]:
    """The app's processes: one, or N storefronts sharing its port (SO_REUSEPORT), as N
    hosts behind a load balancer would be."""
    if app.name != "storefront" or options.scale.storefront_processes == 1:
        return [app_spec(app, options, env)]
    names = fleet.storefront_names(options.scale.storefront_processes)
    return [app_spec(app, options, env, name=name, reuse_port=True) for name in names]


def app_spec(
    app: App, options: Options, env: Mapping[str, str], *, name: str = "", reuse_port: bool = False
) -> Spec:
    """The app under its WSGI server, as its users run it (``granian --interface wsgi
    --factory apps.flask_app:create_app``, ``gunicorn 'apps.flask_app:create_app()'``)."""
    return Spec(
        name=name or app.name,
        argv=server_argv(options, options.port(app), app.wsgi, reuse_port=reuse_port),
        env=env,
        colour=app.colour,
        cwd=ROOT,
        ready=http_ok(f"{options.base_url(app)}{app.probe}"),
    )


def one_host_spec(options: Options, app_envs: Mapping[str, Mapping[str, str]]) -> Spec:
    """Both apps in one server (``granian --interface wsgi apps.onehost:application``),
    ready when both are; its environment is both apps' (each reads only its own variables)."""
    assert options.one_host is not None
    probes = [http_ok(f"{options.base_url(app)}{app.probe}") for app in APPS]
    return Spec(
        name=ONE_HOST_NAME,
        argv=server_argv(options, options.one_host, ONE_HOST_WSGI),
        env=stack.one_host_env(app_envs),
        colour="green",
        cwd=ROOT,
        ready=lambda: all(probe() for probe in probes),
    )


def panel_env(options: Options) -> dict[str, dict[str, str]]:
    """With two hosts, the product page's panel fetches the storefront cross-origin: tell
    the back office where it is, and the storefront to allow the back office's origin."""
    if options.one_host is not None:
        return {}  # same origin
    storefront, backoffice = (app_named(name) for name in ("storefront", "backoffice"))
    hosts = [options.host] + (["localhost"] if options.host == "127.0.0.1" else [])
    origins = [f"http://{host}:{options.port(backoffice)}" for host in hosts]
    return {
        "storefront": {"STOREFRONT_CORS_ORIGINS": ",".join(origins)},
        "backoffice": {"BACKOFFICE_STOREFRONT_URL": options.base_url(storefront)},
    }


def up(options: Options, console: Console, environ: Mapping[str, str] | None = None) -> int:
    """Bring everything up and block until Ctrl-C/SIGTERM or an app dies; return exit code."""
    env = dict(os.environ if environ is None else environ)
    if options.one_host is not None:
        ensure_port_free(options.host, options.one_host, "--port")
    else:
        for app in APPS:
            ensure_port_free(options.host, options.port(app), app.port_option)

    directory = embedded.data_dir(env)
    started_embedded = False
    primary: embedded.Embedded | None = None
    if db.ENV_URL in env:
        owner_url = validate_url(env[db.ENV_URL])
        console.print(f"database: {redact(owner_url)}")
    else:
        with console.status("starting the embedded PostgreSQL…"):
            server = embedded.ensure_running(directory)
        started_embedded = server.started
        owner_url = server.owner_url
        primary = server
        console.print(
            f"database: embedded PostgreSQL in {directory}"
            + (" (started)" if started_embedded else " (already running)")
        )

    running: list[supervisor.Running] = []
    relay = supervisor.LogRelay(console)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        prefix = db.role_prefix(env)
        result = deploy.migrate(owner_url, "head", prefix=prefix)  # as `mergepoint migrate`
        for line in result.lines():
            console.print(line)
        urls = db.role_urls(owner_url, prefix)
        key = secret_key(directory)
        app_envs = {
            "storefront": stack.app_env("storefront", urls["storefront"], env),
            "backoffice": backoffice_env(urls["backoffice"], key, env),
        }
        for name, panel in panel_env(options).items():
            app_envs[name].update(panel)
        migrated = stack.run_app_migrations(app_envs)
        console.print(f"app migrations: {', '.join(migrated)}")
        if options.seed:
            console.print(seed_if_empty(owner_url, console))
        username, password = ensure_staff_user(app_envs["backoffice"])
        sku = sample_sku(owner_url)

        fleet_plan = fleet.plan(options.scale, owner_url, directory, prefix, primary)
        for line in fleet_plan.lines:
            console.print(line)
        running += [supervisor.start(spec, relay) for spec in fleet_plan.specs]
        supervisor.wait_ready(running, options.ready_timeout)  # the pooler before the apps
        assert fleet_plan.routes is not None
        web = fleet_plan.routes.web  # through the pooler with --pooler, else direct
        serving = {
            "storefront": stack.app_env("storefront", web["storefront"], env),
            "backoffice": backoffice_env(web["backoffice"], key, env),
        }
        for name, panel in panel_env(options).items():
            serving[name].update(panel)
        if options.one_host is not None:
            running.append(supervisor.start(one_host_spec(options, serving), relay))
        else:
            for app in APPS:
                running += [
                    supervisor.start(s, relay) for s in app_specs(app, options, serving[app.name])
                ]
        for app in APPS:  # the event consumers, each as its app's role, always direct
            consuming = fleet.direct_env(
                fleet_plan.routes, app.name, f"{app.name}-events", app_envs[app.name]
            )
            running.append(supervisor.start(consumer_spec(app, consuming), relay))
            working = fleet.direct_env(
                fleet_plan.routes, app.name, f"{app.name}-worker", app_envs[app.name]
            )
            running.append(supervisor.start(worker_spec(app, working), relay))
        supervisor.wait_ready(running, options.ready_timeout)
        print_banner(console, options, username, password, sku)

        while not stopping.is_set():
            if (dead := supervisor.first_exited(running)) is not None:
                console.print(
                    f"[red]{dead.name} stopped unexpectedly (exit {dead.process.returncode})[/]"
                )
                return 1
            stopping.wait(0.5)
        console.print("stopping…")
        return 0
    finally:
        supervisor.stop_all(running)
        if started_embedded:
            embedded.stop(directory)
            console.print("embedded PostgreSQL stopped (this run started it)")
        for s, handler in previous.items():
            signal.signal(s, handler)


def print_banner(
    console: Console, options: Options, username: str, password: str | None, sku: str
) -> None:
    shop_url = options.base_url(app_named("storefront"))
    admin_url = f"{options.base_url(app_named('backoffice'))}/admin/"
    login = f"{username} / {password}" if password else f"{username} (existing; password unchanged)"
    json_header = "-H 'Content-Type: application/json'"
    register = '{"email": "you@example.com", "name": "You"}'
    order = json.dumps({"lines": [{"sku": sku, "quantity": 1}]})
    read_token = "python -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])'"
    lines = [
        "",
        "[bold green]mergepoint is up[/]",
        f"  storefront   {shop_url}/api/products   (OpenAPI: {shop_url}/openapi.json)",
        f"  back office  {admin_url}   login: {escape(login)}",
        *(
            [f"  staff API    {shop_url}/api/staff/me   (once logged in to the back office)"]
            if options.one_host is not None
            else []
        ),
        "",
        "  place an order:",
        f"    TOKEN=$(curl -s -X POST {shop_url}/api/customers {json_header} \\",
        f"      -d '{register}' | {read_token})",
        f'    curl -s -X POST {shop_url}/api/orders -H "Authorization: Bearer $TOKEN" \\',
        f"      {json_header} -d '{order}'",
        "  run a report:",
        "    mergepoint report run sales_by_day --format table",
        "",
        "  Ctrl-C stops everything.",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
