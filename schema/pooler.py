"""PgBouncer in front of the server, in transaction pooling mode: its files, its process,
its console.

PgBouncer is PostgreSQL's own pooler; this module writes its configuration and runs it,
nothing more. What the generated configuration decides, and why:

* ``pool_mode = transaction`` and ``default_pool_size`` (``--pool-size``): however many
  app processes connect, each (database, role) pair holds at most that many server
  connections. Nothing may rely on the session behind it (docs/deployment.md), which is
  why only the web processes go through it.
* Clients authenticate with SCRAM against a generated ``userlist.txt`` (0600, owned by
  the pooler's OS user) holding the app roles' passwords from ``schema.passwords``
  (generated when missing). ``auth_query`` would need a lookup function made by a
  superuser (a non-superuser owner gets ``permission denied for pg_authid``). The
  passwords are kept in clear because the pooler logs in to a password-authenticated
  server as each role; the embedded server trusts the pooler's OS user on its socket.
* ``auth_type = hba`` with a generated ``hba.conf``: the app roles reach only their
  database, the owner only the admin console (from this host), nobody else anything: not
  the superuser, not the owner's own sessions (migrations hold session advisory locks:
  the owner always connects directly).
* Never ``ignore_startup_parameters = options``: it would let the back office connect
  while silently dropping whatever its ``options`` asked for; role-level settings
  (``ALTER ROLE … SET``) are what reaches a pooled session.
* ``max_prepared_statements`` only for PgBouncer 1.21+, which tracks protocol-level
  prepared statements; the pooled URLs turn psycopg's prepared statements on only for
  1.22+ (psycopg's documented minimum: it deallocates with ``DEALLOCATE ALL``).

PgBouncer refuses to run as root: as root it runs as the database server's OS user
(``pgbouncer -u``), and its directory is that user's.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from schema import passwords
from schema.errors import MergepointError, one_line
from schema.ports import ensure_port_free
from schema.urls import PREPARE_THRESHOLD, conninfo_to_url, join_app_params, url_params

EXECUTABLE = "pgbouncer"
PACKAGE = "pgbouncer"  # Debian's (and most distributions') package name
DIRNAME = "pooler"
CONSOLE = "pgbouncer"  # the admin console's database name
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6432
DEFAULT_POOL_SIZE = 20
DEFAULT_MAX_CLIENTS = 1000
TRACKS_PREPARED = (1, 21)  # max_prepared_statements exists
PSYCOPG_PREPARED = (1, 22)  # psycopg's documented minimum for prepared statements behind it
MAX_PREPARED_STATEMENTS = 200
# A client waits this long for a server connection before an error (PgBouncer's default,
# 120 s, would hold every request of an app for two minutes while the server is down).
QUERY_WAIT_TIMEOUT = 10
STARTUP_TIMEOUT = 15.0

INI, USERLIST, HBA, PIDFILE, LOGFILE, STATE, CONSOLE_PASSWORD = (
    "pgbouncer.ini",
    "userlist.txt",
    "hba.conf",
    "pgbouncer.pid",
    "pgbouncer.log",
    "pooler.json",
    "console.password",
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


@dataclass(frozen=True)
class Config:
    """Everything the generated files say (passwords aside, it is saved as pooler.json)."""

    directory: Path
    server_host: str  # the server's socket directory, or its host name
    server_port: int
    owner: str  # admin_users: reaches the console, and nothing else
    users: tuple[str, ...]  # the app roles that may connect through it
    databases: tuple[str, ...] = ()  # empty: any database (the tests' clones)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    pool_size: int = DEFAULT_POOL_SIZE
    max_client_conn: int = DEFAULT_MAX_CLIENTS
    version: tuple[int, int] = (1, 18)
    os_user: str | None = None  # `pgbouncer -u`: the OS user it runs as, when we are root

    @property
    def tracks_prepared(self) -> bool:
        return self.version >= TRACKS_PREPARED

    @property
    def client_host(self) -> str:
        """Where a client on this machine reaches it."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "*", "") else self.host

    def path(self, name: str) -> Path:
        return self.directory / name


@dataclass
class Status:
    running: bool
    pid: int | None = None
    config: Config | None = None
    pools: list[dict[str, Any]] = field(default_factory=list)


# --- what the pooler is: version, OS user ------------------------------------------------


def executable() -> str:
    """The pgbouncer on PATH, or one line naming the package to install."""
    found = shutil.which(EXECUTABLE)
    if found is None:
        raise MergepointError(
            f"pgbouncer is not installed (not on PATH): install the `{PACKAGE}` package,"
            f" e.g. apt-get install {PACKAGE}"
        )
    return found


def version(exe: str | None = None) -> tuple[int, int]:
    """PgBouncer's (major, minor), from ``pgbouncer --version``."""
    out = subprocess.run(
        [exe or executable(), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    if match is None:
        raise MergepointError(f"cannot tell pgbouncer's version from {out.strip()!r}")
    return int(match[1]), int(match[2])


def os_user_for(server_host: str) -> str | None:
    """The OS user pgbouncer runs as: ourselves, or, as root (which it refuses), the owner of
    the server's socket directory (the embedded server's user) or else ``nobody``."""
    if os.geteuid() != 0:
        return None
    if server_host.startswith("/"):
        try:
            owner = pwd.getpwuid(Path(server_host).stat().st_uid).pw_name
        except (OSError, KeyError):
            owner = "root"
        if owner != "root":
            return owner
    return "nobody"


# --- the files ---------------------------------------------------------------------------


def _value(text: str) -> str:
    """A value in a PgBouncer connection string, quoted when it has to be."""
    if re.fullmatch(r"[A-Za-z0-9_./:-]+", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_ini(config: Config) -> str:
    server = f"host={_value(config.server_host)} port={config.server_port}"
    if config.databases:
        databases = [f"{name} = {server} dbname={_value(name)}" for name in config.databases]
    else:
        databases = [f"* = {server}"]
    lines = [
        "; Generated by mergepoint (`mergepoint db pooler start`); rewritten at every start.",
        "[databases]",
        *databases,
        "",
        "[pgbouncer]",
        f"listen_addr = {config.host}",
        f"listen_port = {config.port}",
        "unix_socket_dir =",
        "; Transaction pooling: a server connection belongs to a client for one transaction.",
        "pool_mode = transaction",
        f"default_pool_size = {config.pool_size}",
        "min_pool_size = 0",
        "reserve_pool_size = 0",
        f"max_client_conn = {config.max_client_conn}",
        "; Who may connect to what: hba.conf; with which password: userlist.txt (SCRAM).",
        "auth_type = hba",
        f"auth_hba_file = {config.path(HBA)}",
        f"auth_file = {config.path(USERLIST)}",
        f"admin_users = {config.owner}",
        "; Never `ignore_startup_parameters = options`: a client's startup options would be",
        "; dropped without a word. Session settings come from the roles (ALTER ROLE ... SET).",
        f"query_wait_timeout = {QUERY_WAIT_TIMEOUT}",
        "server_connect_timeout = 5",
        "server_login_retry = 1",
        "; Errors are logged; a line per login and logout would bury them under load.",
        "log_connections = 0",
        "log_disconnections = 0",
        f"logfile = {config.path(LOGFILE)}",
        f"pidfile = {config.path(PIDFILE)}",
    ]
    if config.tracks_prepared:
        lines += [
            "; PgBouncer 1.21+ tracks protocol-level prepared statements per server connection.",
            f"max_prepared_statements = {MAX_PREPARED_STATEMENTS}",
        ]
    return "\n".join(lines) + "\n"


def render_hba(config: Config) -> str:
    users = ",".join(config.users)
    databases = ",".join(config.databases) or "all"
    return (
        "# PgBouncer's own access rules, generated by mergepoint (first match wins):\n"
        "# the owner reaches only the admin console, from this host; the app roles only\n"
        "# their database; nobody else connects through the pooler.\n"
        f"host {CONSOLE} {config.owner} 127.0.0.1/32 scram-sha-256\n"
        f"host {CONSOLE} {config.owner} ::1/128 scram-sha-256\n"
        f"host {databases} {users} 0.0.0.0/0 scram-sha-256\n"
        f"host {databases} {users} ::/0 scram-sha-256\n"
    )


def render_userlist(credentials: Mapping[str, str]) -> str:
    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return "".join(f"{quoted(user)} {quoted(pw)}\n" for user, pw in sorted(credentials.items()))


def write(config: Config, credentials: Mapping[str, str]) -> None:
    """Write the configuration, user list (0600) and hba file, owned by the pooler's user.

    ``credentials``: each app role's password; the owner's console password is added.
    """
    for name in (*config.users, config.owner, *config.databases):
        if not _NAME.match(name):
            raise MergepointError(f"cannot pool {name!r}: only plain names are supported")
    missing = set(config.users) - set(credentials)
    if missing:
        raise MergepointError(f"no password for {', '.join(sorted(missing))}")
    directory = config.directory
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    users = {u: credentials[u] for u in config.users}
    users[config.owner] = console_password(directory)
    files = {
        INI: render_ini(config),
        HBA: render_hba(config),
        USERLIST: render_userlist(users),
    }
    uid = gid = -1
    if config.os_user is not None:
        entry = pwd.getpwnam(config.os_user)
        uid, gid = entry.pw_uid, entry.pw_gid
        _ensure_traversable(directory)
        os.chown(directory, uid, gid)
    for name, text in files.items():
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        if uid != -1:
            os.chown(path, uid, gid)
    state = {k: v for k, v in asdict(config).items() if k != "directory"}
    (directory / STATE).write_text(json.dumps(state, indent=2) + "\n")


def _ensure_traversable(directory: Path) -> None:
    """Let another OS user reach ``directory`` (search permission on its parents only)."""
    for parent in directory.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def load(directory: Path) -> Config | None:
    """The configuration last written in ``directory`` (pooler.json), if any."""
    try:
        state = json.loads((directory / STATE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MergepointError(f"cannot read {directory / STATE}: {exc}") from exc
    state["users"] = tuple(state["users"])
    state["databases"] = tuple(state["databases"])
    state["version"] = tuple(state["version"])
    return Config(directory=directory, **state)


def console_password(directory: Path) -> str:
    """The owner's password for the admin console (generated once, 0600; the server never
    sees it: the owner cannot reach a database through the pooler)."""
    path = directory / CONSOLE_PASSWORD
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(passwords.generate())
    return path.read_text().strip()


def app_credentials(owner_url: str, data_dir: Path, users: Sequence[str]) -> dict[str, str]:
    """Each role's password from ``data_dir`` (schema.passwords); a missing one is generated
    and set on the server (as a SCRAM verifier), as `mergepoint db password` would."""
    known = passwords.load(data_dir)
    return {
        user: known.get(user) or passwords.set_password(owner_url, user, data_dir) for user in users
    }


def config_for(
    owner_url: str,
    data_dir: Path,
    users: Sequence[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_client_conn: int = DEFAULT_MAX_CLIENTS,
    any_database: bool = False,
    exe: str | None = None,
) -> Config:
    """The pooler in ``data_dir``/pooler in front of the owner URL's server and database."""
    params = url_params(owner_url)
    server_host = params.get("host") or "/var/run/postgresql"
    return Config(
        directory=data_dir / DIRNAME,
        server_host=server_host,
        server_port=int(params.get("port") or 5432),
        owner=params.get("user") or "",
        users=tuple(users),
        databases=() if any_database else (params.get("dbname", ""),),
        host=host,
        port=port,
        pool_size=pool_size,
        max_client_conn=max_client_conn,
        version=version(exe),
        os_user=os_user_for(server_host),
    )


def pooled_url(config: Config, user: str, password: str, dbname: str) -> str:
    """A client's URL through the pooler: ``pooler=transaction`` tells the apps so; psycopg's
    prepared statements stay off unless this PgBouncer tracks them for psycopg (1.22+)."""
    url = conninfo_to_url(
        {
            "user": user,
            "password": password,
            "host": config.client_host,
            "port": config.port,
            "dbname": dbname,
        }
    )
    params = {"pooler": "transaction"}
    if config.version >= PSYCOPG_PREPARED:
        params[PREPARE_THRESHOLD] = "5"
    return join_app_params(url, params)


# --- the process -------------------------------------------------------------------------


def argv(config: Config, *, daemon: bool, exe: str | None = None) -> list[str]:
    """``pgbouncer [-u USER] [-d] pgbouncer.ini``, as an operator would type it."""
    command = [exe or executable()]
    if config.os_user is not None:
        command += ["-u", config.os_user]
    if daemon:
        command += ["-d", "-q"]
    return [*command, str(config.path(INI))]


def running_pid(directory: Path) -> int | None:
    """The pid in ``directory``'s pidfile if that process is a live pgbouncer."""
    try:
        pid = int((directory / PIDFILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        with open(f"/proc/{pid}/comm") as f:
            alive = f.read().strip() == EXECUTABLE
    except OSError:
        return None
    return pid if alive else None


def accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def prepare(config: Config, credentials: Mapping[str, str], *, port_option: str = "--port") -> None:
    """Check the port and write the files: what a start needs before the process runs."""
    ensure_port_free(config.host or "0.0.0.0", config.port, port_option)
    write(config, credentials)


def start(config: Config, credentials: Mapping[str, str], *, port_option: str = "--port") -> bool:
    """Start pgbouncer as a daemon with ``config``; False if it was already running."""
    exe = executable()
    if running_pid(config.directory) is not None:
        return False
    prepare(config, credentials, port_option=port_option)
    log = config.path(LOGFILE)
    seen = log.stat().st_size if log.exists() else 0
    result = subprocess.run(argv(config, daemon=True, exe=exe), capture_output=True, text=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if running_pid(config.directory) is not None and accepts(config.client_host, config.port):
            return True
        if result.returncode != 0:
            break
        time.sleep(0.05)
    raise MergepointError(
        f"pgbouncer did not start: {_last_log_line(log, seen) or one_line_text(result.stderr)}"
    )


def one_line_text(text: str) -> str:
    return " ".join(text.split()) or "no output"


def _last_log_line(log: Path, since: int = 0) -> str:
    try:
        with log.open("rb") as f:
            f.seek(since)
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    problems = [line for line in lines if " FATAL " in line or " ERROR " in line]
    return (problems or lines or [""])[-1]


def stop(directory: Path, timeout: float = 10) -> bool:
    """Stop the pgbouncer of ``directory`` (SIGTERM, SIGKILL after ``timeout``); False if
    it was not running."""
    pid = running_pid(directory)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(directory) == pid:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)
    return True


# --- the console -------------------------------------------------------------------------


def console(config: Config, password: str) -> psycopg.Connection:
    """An autocommit connection to the admin console, as the owner."""
    try:
        return psycopg.connect(
            host=config.client_host,
            port=config.port,
            dbname=CONSOLE,
            user=config.owner,
            password=password,
            autocommit=True,
            prepare_threshold=None,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        raise MergepointError(
            f"cannot reach pgbouncer's console on {config.client_host}:{config.port}:"
            f" {one_line(exc)}"
        ) from exc


def show(conn: psycopg.Connection, what: str) -> list[dict[str, Any]]:
    """``SHOW POOLS`` (or CLIENTS, SERVERS, …) as dictionaries."""
    if not _NAME.match(what):
        raise ValueError(what)
    cursor = conn.execute(f"SHOW {what}")
    names = [d.name for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def kill_database(conn: psycopg.Connection, dbname: str) -> None:
    """End the pooler's client and server connections to ``dbname`` (``KILL db``), so the
    database can be dropped, then let new clients in again (``RESUME``): they meet the
    server's own answer (no such database) instead of waiting on a paused pool."""
    if not _NAME.match(dbname):
        raise ValueError(dbname)
    if not any(row["name"] == dbname for row in show(conn, "DATABASES")):
        return
    conn.execute(f"KILL {dbname}")
    conn.execute(f"RESUME {dbname}")


def status(directory: Path) -> Status:
    """Whether the pooler of ``directory`` runs, and its pools (from the console)."""
    config = load(directory)
    pid = running_pid(directory)
    if pid is None or config is None:
        return Status(False, config=config)
    with console(config, console_password(directory)) as conn:
        pools = [row for row in show(conn, "POOLS") if row["database"] != CONSOLE]
    return Status(True, pid, config, pools)
