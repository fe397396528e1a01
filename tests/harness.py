"""The test harness: one PostgreSQL per session and a template built as production is.

Loaded as an early plugin (``-p tests.harness`` in pyproject) so that the server is up and
its URLs are exported before pytest-django imports the Django settings. The template is
built the production way: the shared migrations as a non-superuser owner, roles under a
random prefix (so a real server's roles are never touched), then each app's own migrations
through that app's own command. Tests get a database cloned from it (``fresh_db``) or the
session database (Django's rolled-back ``db`` fixture).
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from schema import consumers, embedded, events, migrations, pooler, roles, stack
from schema.db import OWNER_OPTIONS, create_database, drop_database, role_urls
from schema.paths import ROOT
from schema.ports import free_port
from schema.registry import POOLED_ROLES, ROLE_NAMES, URL_VARS
from schema.urls import to_libpq, url_params, with_dbname, with_user

ENV_TEST_URL = "MERGEPOINT_TEST_DATABASE_URL"


@dataclass
class Database:
    name: str
    owner_url: str
    prefix: str

    @property
    def urls(self) -> dict[str, str]:
        return role_urls(self.owner_url, self.prefix)

    def url(self, role: str = "owner") -> str:
        return self.owner_url if role == "owner" else self.urls[role]

    def connect(self, role: str = "owner", **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(to_libpq(self.url(role)), **kwargs)  # type: ignore[arg-type]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment variables pointing every role at this database."""
        env = dict(os.environ if base is None else base)
        env["MERGEPOINT_DATABASE_URL"] = self.owner_url
        env["MERGEPOINT_ROLE_PREFIX"] = self.prefix
        for role, var in URL_VARS.items():
            env[var] = self.urls[role]
        return env


@dataclass
class Pooler:
    """This session's PgBouncer (Debian's, transaction mode) in front of its server, for
    every database (``*``): the app roles of this session only, with generated passwords."""

    config: pooler.Config
    credentials: dict[str, str]  # role name (prefixed) -> password

    def url(self, database: Database, role: str) -> str:
        """``role``'s URL to ``database`` through the pooler (``pooler=transaction``)."""
        user = database.prefix + role
        return pooler.pooled_url(self.config, user, self.credentials[user], database.name)

    def kill(self, dbname: str) -> None:
        """End the pooler's connections to ``dbname`` (``KILL db``) before it is dropped."""
        password = pooler.console_password(self.config.directory)
        with pooler.console(self.config, password) as conn:
            pooler.kill_database(conn, dbname)


@dataclass
class Server:
    admin_url: str  # a role that may create roles (superuser for the embedded server)
    prefix: str
    owner: str
    handle: object | None = None  # pgserver's handle on the embedded server, if we use one
    databases: list[str] = field(default_factory=list)
    pooler: Pooler | None = None  # started by the first test that asks (``pgbouncer``)

    @property
    def owner_url(self) -> str:
        return with_user(self.admin_url, self.owner, "postgres")

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(to_libpq(self.admin_url), autocommit=True)

    def owner_conn(self) -> psycopg.Connection:
        return psycopg.connect(to_libpq(self.owner_url), autocommit=True, options=OWNER_OPTIONS)

    @property
    def app_roles(self) -> list[str]:
        return [self.prefix + role for role in ROLE_NAMES]

    def create(self, name: str, template: str | None = None) -> Database:
        """A database only the owner and this session's app roles may join."""
        roles_exist = template is not None and template != "template1"
        create_database(
            self.owner_url,
            name,
            template=template,
            connect_roles=self.app_roles if roles_exist else (),
        )
        self.databases.append(name)
        return Database(name, with_dbname(self.owner_url, name), self.prefix)

    def clone(self, name: str, template: str) -> Database:
        return self.create(name, template)

    def drop(self, name: str) -> None:
        if self.pooler is not None:
            # Its idle server connections would hold the database open (or be cut from
            # under it): the pooler lets go first, as an operator's `KILL db` does.
            self.pooler.kill(name)
        drop_database(self.owner_url, name)
        if name in self.databases:
            self.databases.remove(name)

    @property
    def template(self) -> str:
        return f"{self.prefix}template"


def _start() -> Server:
    url = os.environ.get(ENV_TEST_URL)
    handle = None
    if url:
        admin_url = with_dbname(url, "postgres")
    else:
        data = Path(os.environ.get("MERGEPOINT_TEST_DATA_DIR") or ROOT / ".mergepoint" / "test")
        handle, admin_url = embedded.shared_server(data)
    prefix = f"t{secrets.token_hex(3)}_"
    server = Server(admin_url=admin_url, prefix=prefix, owner=f"{prefix}owner", handle=handle)
    with server.admin() as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB NOSUPERUSER").format(
                sql.Identifier(server.owner)
            )
        )
        if "password" in url_params(admin_url):
            # On a password-authenticated server the owner needs one too.
            password = secrets.token_urlsafe(16)
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(server.owner), sql.Literal(password)
                )
            )
        if handle is not None:
            # The embedded test server is disposable: no fsync per commit (a database
            # clone was 340 ms, most of it waiting for the disk). A server given through
            # MERGEPOINT_TEST_DATABASE_URL is left as its owner set it.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                admin.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
            admin.execute("SELECT pg_reload_conf()")
    return server


def _build_template(server: Server) -> None:
    url = server.create(server.template).owner_url
    migrations.upgrade(url)
    roles.reconcile(url, server.prefix)
    descriptions, failures = consumers.describe_all()
    assert not failures, failures
    events.reconcile(url, server.prefix, descriptions)
    base = _app_base_env(server)
    envs = {role: stack.app_env(role, u, base) for role, u in role_urls(url, server.prefix).items()}
    stack.run_app_migrations(envs)


def _app_base_env(server: Server) -> dict[str, str]:
    env = dict(os.environ)
    env["MERGEPOINT_ROLE_PREFIX"] = server.prefix
    return env


def _teardown(server: Server) -> None:
    for name in list(reversed(server.databases)):
        server.drop(name)
    with server.admin() as admin:
        for role in [roles.role_name(server.prefix, spec.name) for spec in roles.ROLES]:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(server.owner)))
    if server.handle is not None:
        # Stops the embedded server only if no other test session still holds it.
        server.handle.cleanup()  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):  # type: ignore[no-untyped-def]
    known = early_config.known_args_namespace
    if known.help or known.version:
        return (yield)
    if _is_xdist_controller(known):
        # pytest-xdist's controller runs no test: each worker builds its own server session
        # and template (this hook runs in every worker too). pytest-django still configures
        # Django here, so it gets a URL that is never connected to.
        os.environ.setdefault(URL_VARS["backoffice"], "postgresql://xdist-controller@/unused")
        os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-test-key-" + secrets.token_hex(8))
        return (yield)
    # Keep the session's servers and secrets away from the user's own .mergepoint/.
    scratch = tempfile.TemporaryDirectory(prefix="mergepoint-test-")
    early_config.add_cleanup(scratch.cleanup)
    os.environ.setdefault("MERGEPOINT_DATA_DIR", scratch.name)
    os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-test-key-" + secrets.token_hex(8))
    server = _start()
    try:
        _build_template(server)
        session = server.clone(f"{server.prefix}session", server.template)
    except BaseException:
        _teardown(server)
        raise
    os.environ.update(session.env())
    early_config.stash[SERVER_KEY] = server
    early_config.stash[SESSION_KEY] = session
    return (yield)


def _is_xdist_controller(known: object) -> bool:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return False
    # "-n auto" or "-n N" with N > 0; "-n 0" (or "-p no:xdist") runs tests in this process.
    return bool(getattr(known, "numprocesses", None))


SERVER_KEY = pytest.StashKey[Server]()
SESSION_KEY = pytest.StashKey[Database]()


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(SERVER_KEY, None)
    if server is not None:
        _teardown(server)


@pytest.fixture(scope="session")
def pg(pytestconfig: pytest.Config) -> Server:
    return pytestconfig.stash[SERVER_KEY]


@pytest.fixture(scope="session")
def session_db(pytestconfig: pytest.Config) -> Database:
    return pytestconfig.stash[SESSION_KEY]


def outside_pytest_tmp(prefix: str) -> Path:
    """A new directory outside pytest's temporary root, for files another OS user reads
    (PgBouncer runs as the server's user when we are root): every pytest session that
    starts on the machine makes that root 0700 again, shutting such a user out."""
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture
def foreign_tmp() -> Iterator[Path]:
    """A temporary directory a server running as another OS user can keep reading."""
    directory = outside_pytest_tmp("mp-t-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def pgbouncer(pg: Server) -> Iterator[Pooler]:
    """PgBouncer from PATH (Debian's 1.18 in CI) in transaction mode, for this session."""
    data = outside_pytest_tmp("mp-pgb-")
    users = [pg.prefix + role for role in POOLED_ROLES]
    config = pooler.config_for(pg.owner_url, data, users, port=free_port(), any_database=True)
    credentials = pooler.app_credentials(pg.owner_url, data, users)
    pooler.start(config, credentials)
    pg.pooler = Pooler(config, credentials)
    try:
        yield pg.pooler
    finally:
        pg.pooler = None
        pooler.stop(config.directory)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def route(request: pytest.FixtureRequest) -> str:
    """How the app under test reaches the database: ``direct`` unless a test is
    parametrized with ``through_pooler`` (then also ``pgbouncer``)."""
    return getattr(request, "param", "direct")


# Run a test twice: directly, and with the app's URL leading through the session's PgBouncer.
through_pooler = pytest.mark.parametrize("route", ["direct", "pgbouncer"], indirect=True)


class ClonePool:
    """Clones of the template made ahead, by a thread, while tests run: a clone costs the
    server about 350 ms (mostly copying the template), time a test would otherwise wait."""

    AHEAD = 2

    def __init__(self, server: Server):
        self.server = server
        self.ready: queue.Queue[Database] = queue.Queue(maxsize=self.AHEAD)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._fill, name="clone-pool", daemon=True)
        self.thread.start()

    def _make(self) -> Database:
        name = f"{self.server.prefix}{secrets.token_hex(4)}"
        return self.server.clone(name, self.server.template)

    def _fill(self) -> None:
        while not self.stop.is_set():
            try:
                database = self._make()
            except Exception:  # the server went away (end of session): stop quietly
                return
            while not self.stop.is_set():
                try:
                    self.ready.put(database, timeout=0.2)
                    break
                except queue.Full:
                    continue

    def take(self) -> Database:
        try:
            return self.ready.get(timeout=5)
        except queue.Empty:
            return self._make()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)  # its clones are in server.databases: the teardown drops them


@pytest.fixture(scope="session")
def clone_pool(pg: Server) -> Iterator[ClonePool]:
    pool = ClonePool(pg)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def fresh_db(pg: Server, clone_pool: ClonePool) -> Iterator[Database]:
    """A database of its own, cloned from the migrated template (made ahead: see ClonePool)."""
    database = clone_pool.take()
    try:
        yield database
    finally:
        pg.drop(database.name)
