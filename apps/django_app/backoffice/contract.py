"""What the back office uses of the shared schema, as plain data derived from its models.

``describe()`` needs Django's app registry but no database connection: column types
come from each field's ``db_type`` for the PostgreSQL backend. ``python -m
apps.django_app.backoffice.contract`` prints it as JSON with minimal settings of its
own, so a checker can run it in a subprocess without the back office's environment.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from apps.django_app.backoffice import errors, identity, sales

NAME = ROLE = "backoffice"
# Where the shared tables live; the models name them unqualified (found via search_path).
SHARED_NAMESPACE = "shop"

# What the back office writes (its role's grants must allow it).
WRITES: dict[str, dict[str, tuple[str, ...]]] = {
    "products": {
        # The database sets id, stock and the timestamps (models.database_set: never sent).
        "INSERT": ("sku", "name", "price_cents", "active"),
        "UPDATE": ("name", "price_cents", "active"),
    },
    "stock_movements": {
        # Written by services.restock with exactly these columns; the database adds the rest.
        "INSERT": ("product_id", "delta", "reason"),
    },
    "orders": {"UPDATE": ("status",)},
    "settings": {"UPDATE": ("low_stock_threshold",)},
}

# The task queue's functions (alembic 0007) procrastinate calls for us: deferring on our
# connection, and our worker (manage.py procrastinate worker).
QUEUE_CALLS = (
    "tasks.procrastinate_defer_jobs_v1(tasks.procrastinate_job_to_defer_v1[])",
    "tasks.procrastinate_defer_periodic_job_v2(character varying,character varying,"
    "character varying,character varying,integer,character varying,bigint,jsonb)",
    "tasks.procrastinate_fetch_job_v2(character varying[],bigint)",
    "tasks.procrastinate_finish_job_v1(bigint,tasks.procrastinate_job_status,boolean)",
    "tasks.procrastinate_retry_job_v2(bigint,timestamp with time zone,integer,"
    "character varying,character varying)",
    "tasks.procrastinate_register_worker_v1()",
    "tasks.procrastinate_unregister_worker_v1(bigint)",
    "tasks.procrastinate_update_heartbeat_v1(bigint)",
    "tasks.procrastinate_prune_stalled_workers_v1(double precision)",
)

# The events the back office consumes (the `events` namespace's protocol, alembic 0005):
# the staff feed, and the daily sales rollup the dashboard reads (sales.py).
SUBSCRIPTIONS = (
    {"name": "backoffice-feed", "topics": ["order.placed", "stock.low"]},
    {"name": sales.CONSUMER, "topics": list(sales.TOPICS)},
)


def describe() -> dict[str, Any]:
    """The ``mergepoint.consumers`` description (name, role, reads, writes, constraints,
    rules), plus ``tables``: per model, its columns with foreign keys and primary key."""
    from django.db import connections

    from apps.django_app.backoffice.models import SHARED_MODELS

    connection = connections["default"]
    tables: dict[str, Any] = {}
    for model in SHARED_MODELS:
        columns = {}
        for field in model._meta.concrete_fields:
            references = None
            if field.is_relation and field.db_constraint:
                target = field.target_field
                references = f"{target.model._meta.db_table}.{target.column}"
            columns[field.column] = {
                "type": field.db_type(connection),
                "null": field.null,
                "references": references,
            }
        tables[model._meta.db_table] = {
            "model": model.__name__,
            "columns": columns,
            "primary_key": [f.column for f in model._meta.pk_fields],
        }
    return {
        "name": NAME,
        "role": ROLE,
        "reads": {
            f"{SHARED_NAMESPACE}.{table}": {
                column: {"type": spec["type"], "nullable": spec["null"]}
                for column, spec in t["columns"].items()
            }
            for table, t in tables.items()
        },
        "writes": {
            f"{SHARED_NAMESPACE}.{table}": {k: list(v) for k, v in w.items()}
            for table, w in WRITES.items()
        },
        "constraints": sorted(errors.CONSTRAINTS),
        "rules": list(errors.RULES),
        "subscriptions": [dict(s) for s in SUBSCRIPTIONS],
        "calls": [*identity.CALLS, *QUEUE_CALLS],
        "tables": tables,
    }


def main() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        # Only the app registry and the backend's type names are needed: no URL, no secret.
        settings.configure(
            INSTALLED_APPS=[
                "django.contrib.contenttypes",
                "django.contrib.auth",
                "apps.django_app.backoffice",
            ],
            DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unused"}},
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        )
    django.setup()
    json.dump(describe(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
