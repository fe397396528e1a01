"""A streaming read replica of the embedded server, made with the server's own binaries.

``pg_basebackup -R -c fast`` copies the primary into ``<data dir>/replica`` and writes
``standby.signal`` and ``primary_conninfo``; the copy then runs as a hot standby on its
own private socket (inside its data directory, as the primary's). Why each step:

* ``-c fast``: an immediate checkpoint (about a second) instead of a spread one (half a
  minute on this machine).
* The embedded server keeps its socket lock file in its data directory, so the copy
  holds one too, naming the primary's postmaster: the standby refuses to start on it
  until it is removed.
* A physical replication slot keeps the WAL the standby has not received yet; creating
  one needs the server's superuser (the owner is not), which the embedded server has.
* ``hot_standby_feedback = on``: a long report on the replica would otherwise be cancelled
  by a recovery conflict when the primary vacuums rows it still reads.

Lag is measured from LSNs (the primary's current WAL position against the replica's
replayed one), which the owner may read; ``pg_stat_replication``'s details need more.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from schema import embedded
from schema.errors import MergepointError
from schema.urls import conninfo_to_url, to_libpq, url_params

DIRNAME = "replica"
SLOT = "mergepoint_replica"
LOCK_FILES = (".s.PGSQL.5432.lock", "postmaster.pid", "postmaster.opts", ".handle_pids.json")
STANDBY_SETTINGS = {"hot_standby": "on", "hot_standby_feedback": "on"}
START_TIMEOUT = 60


def directory(data_dir: Path) -> Path:
    return data_dir / DIRNAME


def binary(name: str) -> Path:
    """One of the embedded server's own programs (pg_basebackup, pg_ctl, postgres)."""
    pgserver = embedded._pgserver()
    return Path(pgserver.utils.POSTGRES_VERSIONS[pgserver.utils.TARGET_POSTGRES_VERSION]) / name


def os_user(pgdata: Path) -> str | None:
    """The OS user the server runs as when we are root (it refuses root), else None."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(pgdata.stat().st_uid).pw_name


def superuser_url(socket_dir: Path) -> str:
    return conninfo_to_url({"user": "postgres", "dbname": "postgres", "host": str(socket_dir)})


def role_url(data_dir: Path, user: str, dbname: str, password: str | None = None) -> str:
    """``user``'s URL on the replica (its private socket, the primary's database name)."""
    params: dict[str, object] = {"user": user, "dbname": dbname, "host": str(directory(data_dir))}
    if password:
        params["password"] = password
    return conninfo_to_url(params)


def running(data_dir: Path) -> bool:
    info = embedded._postmaster_info(directory(data_dir))
    return info is not None


def _run(argv: list[str], user: str | None, what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, user=user, timeout=300)
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
        raise MergepointError(f"{what} failed: {detail[0] if detail else result.returncode}")


def ensure_slot(primary_superuser_url: str) -> None:
    with psycopg.connect(to_libpq(primary_superuser_url), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [SLOT]
        ).fetchone()
        if exists is None:
            conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", [SLOT])


def drop_slot(primary_superuser_url: str) -> bool:
    with psycopg.connect(to_libpq(primary_superuser_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s AND NOT active",
            [SLOT],
        ).fetchone()
    return row is not None


def create(data_dir: Path, primary: embedded.Embedded) -> None:
    """Copy the running primary into ``data_dir``/replica as a standby (not started)."""
    target = directory(data_dir)
    embedded.ensure_private_socket(target)  # its socket lives there: the same path rule
    user = os_user(primary.pgdata)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(target, entry.pw_uid, entry.pw_gid)
    target.chmod(0o700)
    ensure_slot(primary.superuser_url)
    socket_dir = url_params(primary.superuser_url)["host"]
    _run(
        [
            str(binary("pg_basebackup")),
            "--pgdata", str(target),
            "--write-recovery-conf",  # -R: standby.signal and primary_conninfo
            "--checkpoint", "fast",  # -c fast
            "--wal-method", "stream",
            "--slot", SLOT,
            "--dbname", f"host={socket_dir} user=postgres",
        ],
        user,
        "pg_basebackup",
    )  # fmt: skip
    for name in LOCK_FILES:  # the copy of the primary's socket lock would stop the standby
        (target / name).unlink(missing_ok=True)
    with (target / "postgresql.auto.conf").open("a") as conf:
        conf.write("# mergepoint: a hot standby that reports what its queries still need\n")
        for key, value in STANDBY_SETTINGS.items():
            conf.write(f"{key} = '{value}'\n")


def server_argv(data_dir: Path) -> list[str]:
    """The standby in the foreground, as ``mergepoint up --replica`` supervises it."""
    target = directory(data_dir)
    return [str(binary("postgres")), "-D", str(target), "-h", "", "-k", str(target)]


def start(data_dir: Path, primary: embedded.Embedded) -> bool:
    """Make (once) and start the standby with pg_ctl; False if it was already running."""
    if running(data_dir):
        return False
    prepare(data_dir, primary)
    target = directory(data_dir)
    _run(
        [
            str(binary("pg_ctl")), "--wait", "--timeout", str(START_TIMEOUT),
            "--pgdata", str(target), "--log", str(target / "log"),
            "-o", f'-h "" -k {target}', "start",
        ],
        os_user(primary.pgdata),
        "starting the replica",
    )  # fmt: skip
    return True


def ready(data_dir: Path) -> bool:
    """The standby accepts connections (and is in recovery)."""
    if not running(data_dir):  # its postmaster.pid says "ready": no refused probe in its log
        return False
    try:
        with psycopg.connect(
            to_libpq(superuser_url(directory(data_dir))), connect_timeout=2
        ) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def prepare(data_dir: Path, primary: embedded.Embedded) -> None:
    """Make the standby's copy if there is none (before ``server_argv`` runs it)."""
    target = directory(data_dir)
    if not (target / "PG_VERSION").exists():
        shutil.rmtree(target, ignore_errors=True)  # a half-made copy from an interrupted run
        create(data_dir, primary)
    # A standby stopped uncleanly leaves its own lock file behind: the socket is ours.
    (target / LOCK_FILES[0]).unlink(missing_ok=True)


def stop(data_dir: Path) -> bool:
    """Stop the standby (fast shutdown); False if it was not running."""
    target = directory(data_dir)
    if not running(data_dir):
        return False
    _run(
        [str(binary("pg_ctl")), "--wait", "--pgdata", str(target), "--mode", "fast", "stop"],
        os_user(target),
        "stopping the replica",
    )
    return True


def remove(data_dir: Path, primary_superuser_url: str | None) -> bool:
    """Delete the standby's copy and its replication slot (stop it first)."""
    target = directory(data_dir)
    existed = target.exists()
    shutil.rmtree(target, ignore_errors=True)
    if primary_superuser_url is not None:
        existed = drop_slot(primary_superuser_url) or existed
    return existed


@dataclass(frozen=True)
class Lag:
    """How far the replica is behind the primary."""

    bytes: int  # WAL the primary has written that the replica has not replayed
    receive_lsn: str | None
    replay_lsn: str | None
    primary_lsn: str
    last_replayed_commit: datetime | None


def lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def lag(primary_url: str, replica_url: str) -> Lag:
    """LSN-based lag: the replica's replay position against the primary's current one."""
    with psycopg.connect(to_libpq(replica_url), autocommit=True, connect_timeout=5) as conn:
        row: Any = conn.execute(
            "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text,"
            " pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp()"
        ).fetchone()
    if not row[0]:
        raise MergepointError("the replica is not in recovery: it was promoted to a primary")
    with psycopg.connect(to_libpq(primary_url), autocommit=True, connect_timeout=5) as conn:
        current: Any = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    behind = max(0, lsn(current[0]) - lsn(row[2])) if row[2] else lsn(current[0])
    return Lag(behind, row[1], row[2], current[0], row[3])


def wait_caught_up(primary_url: str, replica_url: str, timeout: float = 30) -> Lag:
    """Until the replica has replayed what the primary had written when called."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(to_libpq(primary_url), autocommit=True) as conn:
        target: Any = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    while True:
        current = lag(primary_url, replica_url)
        if current.replay_lsn and lsn(current.replay_lsn) >= lsn(target[0]):
            return current
        if time.monotonic() > deadline:
            raise MergepointError(
                f"the replica did not catch up within {timeout:.0f}s ({current.bytes} bytes behind)"
            )
        time.sleep(0.02)
