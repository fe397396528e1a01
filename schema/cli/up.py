"""``mergepoint up``: everything, on one machine."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from schema import fleet, servers
from schema import pooler as pooler_module
from schema import up as up_module
from schema.errors import MergepointError
from schema.registry import app


@click.command()
@click.option(
    "--storefront-port",
    type=click.IntRange(1, 65535),
    default=app("storefront").default_port,
    show_default=True,
    help="Port of the storefront API. Example: --storefront-port 9000",
)
@click.option(
    "--backoffice-port",
    type=click.IntRange(1, 65535),
    default=app("backoffice").default_port,
    show_default=True,
    help="Port of the back office (Django admin). Example: --backoffice-port 9001",
)
@click.option(
    "--one-host",
    is_flag=True,
    help="Serve both apps at one address from one server: the storefront at /, the back "
    "office at /backoffice/ (staff then reach /api/staff/ with their login). "
    "Example: mergepoint up --one-host",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="With --one-host: the port both apps share [default: 8000]. "
    "Example: mergepoint up --one-host --port 9000",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface both apps listen on. Example: --host 0.0.0.0",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Server worker processes per app. Example: --workers 4",
)
@click.option(
    "--server",
    type=click.Choice(servers.NAMES),
    default=servers.DEFAULT,
    show_default=True,
    help="The WSGI server both apps run under: granian (measured fastest here, see "
    "bench.storefront) or gunicorn. Example: mergepoint up --server gunicorn",
)
@click.option(
    "--access-log",
    is_flag=True,
    help="Log every request too (errors and start-up are always shown). "
    "Example: mergepoint up --access-log",
)
@click.option(
    "--no-seed",
    is_flag=True,
    help="Do not load demo data into an empty shop. Example: mergepoint up --no-seed",
)
@click.option(
    "--pooler",
    is_flag=True,
    help="Run PgBouncer (transaction mode) and send both web apps through it; migrations "
    "and the owner stay direct. Example: mergepoint up --pooler",
)
@click.option(
    "--pooler-port",
    type=click.IntRange(1, 65535),
    default=pooler_module.DEFAULT_PORT,
    show_default=True,
    help="Port of the pooler. Example: --pooler-port 6433",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1, 10_000),
    default=pooler_module.DEFAULT_POOL_SIZE,
    show_default=True,
    help="Server connections per app role through the pooler. Example: --pool-size 10",
)
@click.option(
    "--replica",
    is_flag=True,
    help="Run a streaming read replica of the embedded server; reports use it. "
    "Example: mergepoint up --pooler --replica",
)
@click.option(
    "--storefront-processes",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Storefront server processes (each with --workers), sharing its port. "
    "Example: --storefront-processes 4",
)
@click.pass_context
def up(
    ctx: click.Context,
    storefront_port: int,
    backoffice_port: int,
    one_host: bool,
    port: int | None,
    host: str,
    workers: int,
    server: str,
    access_log: bool,
    no_seed: bool,
    pooler: bool,
    pooler_port: int,
    pool_size: int,
    replica: bool,
    storefront_processes: int,
) -> None:
    """Run everything: database, migrations, roles, demo data, staff user, both apps.

    The storefront (Flask) and the back office (Django admin) run under granian (or
    gunicorn: --server gunicorn) as two processes, each connected as its own role; with
    --one-host, as one process serving both at one address (each app still connects as
    its own role, but that process holds both roles' URLs). Staff login comes from
    MERGEPOINT_ADMIN_USER / MERGEPOINT_ADMIN_PASSWORD, or is generated and printed once.
    Ctrl-C stops both apps (and the embedded database, if this run started it).

    With --pooler both web apps connect through PgBouncer; with --replica reports run on a
    streaming replica; --storefront-processes N runs N storefronts on one port.

    \b
    Examples:
      mergepoint up
      mergepoint up --storefront-port 9000 --backoffice-port 9001
      mergepoint up --one-host --port 9000
      mergepoint up --pooler --replica --storefront-processes 4
    """
    explicit = [
        f"--{name.replace('_', '-')}"
        for name in ("storefront_port", "backoffice_port")
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if one_host and explicit:
        raise MergepointError(f"{explicit[0]} does not go with --one-host: use --port")
    if port is not None and not one_host:
        raise MergepointError("--port goes with --one-host (or use --storefront-port)")
    if not one_host and storefront_port == backoffice_port:
        raise MergepointError("--storefront-port and --backoffice-port must differ")
    if pooler and pooler_port in (storefront_port, backoffice_port):
        raise MergepointError("--pooler-port must differ from the apps' ports")
    options = up_module.Options(
        host=host,
        ports={"storefront": storefront_port, "backoffice": backoffice_port},
        workers=workers,
        server=server,
        seed=not no_seed,
        access_log=access_log,
        one_host=(port or app("storefront").default_port) if one_host else None,
        scale=fleet.Scale(
            pooler=pooler,
            replica=replica,
            storefront_processes=storefront_processes,
            pooler_port=pooler_port,
            pool_size=pool_size,
        ),
    )
    sys.exit(up_module.up(options, Console(highlight=False)))
