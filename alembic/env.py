"""Alembic environment for the shared schema: it sees only `shop` and `reporting`."""

from logging.config import fileConfig

from alembic import context
from schema import migrations
from schema.tables import SHOP

config = context.config
if config.config_file_name is not None and not config.attributes.get("quiet"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


OPTIONS = migrations.CONTEXT_OPTIONS


def run_migrations_offline() -> None:
    context.configure(
        url=migrations.sqlalchemy_url(config),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **OPTIONS,
    )
    with context.begin_transaction():
        # The same bounds as the online path, for whoever applies this SQL by hand.
        context.execute(f"SET LOCAL lock_timeout = '{migrations.lock_timeout(config)}'")
        context.execute(f"SET LOCAL statement_timeout = '{migrations.statement_timeout()}'")
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {SHOP}")
        context.run_migrations()


def run_migrations_online() -> None:
    engine = migrations.owner_engine(migrations.sqlalchemy_url(config))
    try:
        with engine.connect() as connection:
            # Wait (without lock_timeout) for any concurrent migrate run, then bound the DDL.
            with migrations.migration_lock(connection, migrations.lock_timeout(config)):
                context.configure(connection=connection, **OPTIONS)
                with context.begin_transaction():
                    context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
