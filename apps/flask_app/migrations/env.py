"""Alembic environment of the storefront's own namespace (see apps/flask_app/migrate.py)."""

from alembic import context
from apps.flask_app.migrate import include_name
from apps.flask_app.tables import STOREFRONT, storefront_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run these migrations with: flask --app apps.flask_app db upgrade")

context.configure(
    connection=connection,
    target_metadata=storefront_metadata,
    include_schemas=True,
    include_name=include_name,
    version_table_schema=STOREFRONT,
)
with context.begin_transaction():
    context.run_migrations()
