"""What `mergepoint up --pooler --replica --storefront-processes N` adds to one machine.

PgBouncer and the read replica run under the supervisor like the apps (their logs
prefixed ``pgbouncer`` and ``replica``, stopped on Ctrl-C), unless they already run
(`mergepoint db pooler start`, `mergepoint db replica start`): then they are used and
left running. The routes (schema.routes) say which URL each process gets: the web apps
the pooler's, reports the replica's, everything else a direct one.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from schema import db, embedded, pooler, replica, routes
from schema.errors import MergepointError
from schema.pooler import DEFAULT_POOL_SIZE, DEFAULT_PORT
from schema.registry import DIRECT_URL_VARS, POOLED_ROLES, URL_VARS
from schema.supervisor import Spec


@dataclass(frozen=True)
class Scale:
    pooler: bool = False
    replica: bool = False
    storefront_processes: int = 1
    pooler_port: int = DEFAULT_PORT
    pool_size: int = DEFAULT_POOL_SIZE


@dataclass
class Plan:
    """The processes to supervise before the apps, what to say, and the routes."""

    specs: list[Spec] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    routes: routes.Routes | None = None


def plan(
    scale: Scale,
    owner_url: str,
    data_dir: Path,
    prefix: str,
    primary: embedded.Embedded | None,
    host: str = pooler.DEFAULT_HOST,
) -> Plan:
    """Write the pooler's files and make the replica's copy; return what to run."""
    out = Plan()
    if scale.replica and primary is None:
        raise MergepointError(
            "--replica makes a standby of the embedded server: unset MERGEPOINT_DATABASE_URL,"
            " or give reports your own replica with REPORTING_DATABASE_URL"
        )
    if scale.pooler:
        config = pooler.config_for(
            owner_url,
            data_dir,
            [prefix + role for role in POOLED_ROLES],
            host=host,
            port=scale.pooler_port,
            pool_size=scale.pool_size,
        )
        if pooler.running_pid(config.directory) is not None:
            running = pooler.load(config.directory) or config
            out.lines.append(
                f"pooler: already running on {running.client_host}:{running.port} (kept)"
            )
        else:
            credentials = pooler.app_credentials(owner_url, data_dir, config.users)
            pooler.prepare(config, credentials, port_option="--pooler-port")
            out.specs.append(
                Spec(
                    name="pgbouncer",
                    argv=pooler.argv(config, daemon=False),
                    env={},
                    colour="yellow",
                    cwd=config.directory,
                    ready=lambda: pooler.accepts(config.client_host, config.port),
                )
            )
            out.lines.append(
                f"pooler: PgBouncer {config.version[0]}.{config.version[1]} on"
                f" {config.client_host}:{config.port}, transaction pooling,"
                f" {config.pool_size} server connections per app role"
            )
    if scale.replica and primary is not None:
        if replica.running(data_dir):
            out.lines.append(f"replica: already running ({replica.directory(data_dir)}) (kept)")
        else:
            replica.prepare(data_dir, primary)
            out.specs.append(
                Spec(
                    name="replica",
                    argv=replica.server_argv(data_dir),
                    env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
                    colour="green",
                    cwd=replica.directory(data_dir),
                    ready=lambda: replica.ready(data_dir),
                    user=replica.os_user(primary.pgdata),
                    stop_signal=signal.SIGINT,  # fast shutdown
                )
            )
            out.lines.append(
                f"replica: hot standby in {replica.directory(data_dir)} (reports run there)"
            )
    out.routes = routes.resolve(
        owner_url,
        data_dir,
        prefix,
        use_pooler=scale.pooler,
        use_replica=scale.replica,
        embedded_server=primary is not None,
    )
    return out


def direct_env(
    routes_: routes.Routes, role: str, process: str, base: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a process that must connect directly (an event consumer, a queue
    worker: LISTEN, session advisory locks): its role's direct URL, named ``process`` in
    pg_stat_activity, under both the direct variable and the plain one, so it is direct
    whichever it reads."""
    direct = routes_.direct_for(role, process)
    urls = (*URL_VARS.values(), *DIRECT_URL_VARS.values(), db.ENV_URL)  # never the owner's
    env = {k: v for k, v in base.items() if k not in urls}
    env[URL_VARS[role]] = direct
    if role in DIRECT_URL_VARS:
        env[DIRECT_URL_VARS[role]] = direct
    return env


def storefront_names(n: int) -> list[str]:
    """The storefront processes' names (their log prefixes)."""
    return ["storefront"] if n == 1 else [f"storefront-{i}" for i in range(1, n + 1)]
