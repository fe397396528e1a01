"""Red team: the pooler, attacked with an app role's stolen credentials (and without any).

PgBouncer reaches the embedded server over its socket, which trusts the pooler's OS user:
so the pooler's own rules (a SCRAM user list, an hba file of its own) are all that stands
between a network client and any role. Each attack below is refused, and a pooled session
poisoned by a compromised app reaches nobody else's pool and forges no actor.
"""

from __future__ import annotations

import os
import stat

import psycopg
import pytest

from schema import pooler
from schema.registry import POOLED_ROLES
from schema.urls import to_libpq
from tests.harness import Pooler
from tests.support import free_port


def connect(config: pooler.Config, user: str, password: str, dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host=config.client_host,
        port=config.port,
        user=user,
        password=password,
        dbname=dbname,
        autocommit=True,
        prepare_threshold=None,
        connect_timeout=5,
    )


@pytest.fixture
def production_pooler(pg, fresh_db, pgbouncer, foreign_tmp):
    """A pooler configured as `mergepoint db pooler start` configures it: one database."""
    users = [pg.prefix + role for role in POOLED_ROLES]
    config = pooler.config_for(fresh_db.owner_url, foreign_tmp / "data", users, port=free_port())
    assert config.databases == (fresh_db.name,)
    pooler.start(config, pgbouncer.credentials)
    try:
        yield Pooler(config, pgbouncer.credentials)
    finally:
        pooler.stop(config.directory)


def test_the_superuser_cannot_come_through_the_pooler(fresh_db, production_pooler):
    """The server trusts the pooler's socket; the pooler trusts no one it does not list."""
    for password in ("", "postgres", "anything"):
        with pytest.raises(psycopg.OperationalError, match="login rejected|password"):
            connect(production_pooler.config, "postgres", password, fresh_db.name)


def test_the_owner_reaches_the_console_but_never_a_database(fresh_db, production_pooler):
    config = production_pooler.config
    password = pooler.console_password(config.directory)
    with connect(config, config.owner, password, pooler.CONSOLE) as console:
        assert pooler.show(console, "VERSION")
    # Migrations hold session advisory locks: the owner is never pooled, even by mistake.
    with pytest.raises(psycopg.OperationalError, match="login rejected"):
        connect(config, config.owner, password, fresh_db.name)


def test_a_stolen_app_password_opens_neither_the_console_nor_another_database(
    pg, fresh_db, production_pooler
):
    config, credentials = production_pooler.config, production_pooler.credentials
    user = f"{pg.prefix}storefront"
    with pytest.raises(psycopg.OperationalError, match="not allowed|login rejected"):
        connect(config, user, credentials[user], pooler.CONSOLE)  # KILL, PAUSE, SHUTDOWN…
    for other in ("postgres", pg.template):
        with pytest.raises(psycopg.OperationalError, match="login rejected|no such database"):
            connect(config, user, credentials[user], other)


def test_passwords_are_checked_and_not_interchangeable(pg, fresh_db, production_pooler):
    config, credentials = production_pooler.config, production_pooler.credentials
    storefront, backoffice = f"{pg.prefix}storefront", f"{pg.prefix}backoffice"
    for user, password in ((storefront, "wrong"), (storefront, credentials[backoffice]),
                           (backoffice, ""), (f"{pg.prefix}reporting", "x" * 32)):  # fmt: skip
        with pytest.raises(psycopg.OperationalError):
            connect(config, user, password, fresh_db.name)
    with connect(config, storefront, credentials[storefront], fresh_db.name) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (storefront,)


def test_the_pooler_files_are_its_users_alone(production_pooler):
    directory = production_pooler.config.directory
    for name in (pooler.USERLIST, pooler.HBA, pooler.INI):
        mode = os.stat(directory / name).st_mode
        assert stat.S_IMODE(mode) == 0o600, name
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(directory / pooler.CONSOLE_PASSWORD).st_mode) == 0o600


def test_a_session_poisoned_through_the_pooler_forges_no_actor_and_reaches_no_other_pool(
    pg, fresh_db, pgbouncer, shop
):
    """A compromised storefront sets session state on the server connection it borrows;
    the next client of that connection may inherit it (transaction pooling keeps no
    reset), so the rules never trust it: the actor's app comes from the login role, and
    each role has pools of its own."""
    pid = shop.product(stock=10)
    customer = shop.customer()
    storefront = to_libpq(pgbouncer.url(fresh_db, "storefront"))
    with psycopg.connect(storefront, autocommit=True, prepare_threshold=None) as attacker:
        backend = attacker.execute("SELECT pg_backend_pid()").fetchone()[0]
        attacker.execute("SET mergepoint.actor = 'backoffice:admin'")  # session-level
        attacker.execute("SET search_path = storefront, shop, pg_catalog")
    with psycopg.connect(storefront, autocommit=True, prepare_threshold=None) as victim:
        assert victim.execute("SELECT pg_backend_pid()").fetchone()[0] == backend  # reused
        with victim.transaction():
            (order,) = victim.execute(
                "INSERT INTO shop.orders (customer_id) VALUES (%s) RETURNING id", [customer]
            ).fetchone()
            victim.execute(
                "INSERT INTO shop.order_lines (order_id, product_id, quantity) VALUES (%s, %s, 1)",
                [order, pid],
            )
    actor = shop.conn.execute(
        "SELECT actor FROM shop.stock_movements WHERE order_id = %s", [order]
    ).fetchone()[0]
    assert actor.startswith("storefront:"), actor  # never backoffice:admin
    url = to_libpq(pgbouncer.url(fresh_db, "backoffice"))
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as office:
        assert office.execute("SELECT pg_backend_pid()").fetchone()[0] != backend
        assert office.execute("SELECT current_setting('mergepoint.actor', true)").fetchone()[0] in (
            None,
            "",
        )
        assert office.execute("SHOW search_path").fetchone() == ("backoffice, shop, tasks",)
