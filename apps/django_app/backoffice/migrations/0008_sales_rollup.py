"""The daily sales rollup the admin index's dashboard reads (backoffice/sales.py).

Numbered 0008 (depending on 0006) so it lands beside a parallel 0007 without a clash.
"""

from django.db import migrations, models

import apps.django_app.backoffice.models


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0007_product_imports"),
    ]

    operations = [
        migrations.CreateModel(
            name="SalesDay",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "day",
                        "status",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("day", models.DateField()),
                (
                    "status",
                    models.TextField(
                        choices=[
                            ("placed", "placed"),
                            ("paid", "paid"),
                            ("shipped", "shipped"),
                            ("cancelled", "cancelled"),
                        ]
                    ),
                ),
                ("orders", models.BigIntegerField(default=0)),
                ("units", models.BigIntegerField(default=0)),
                ("value_cents", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "sales day",
                "db_table": "sales_rollup",
                "ordering": ("day", "status"),
            },
        ),
        migrations.CreateModel(
            name="SalesRollupState",
            fields=[
                (
                    "id",
                    models.BooleanField(
                        default=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("snapshot", apps.django_app.backoffice.models.SnapshotField()),
                ("built_at", models.DateTimeField()),
                ("built_orders", models.BigIntegerField()),
                ("applied_txid", apps.django_app.backoffice.models.Xid8Field()),
                ("applied_id", models.BigIntegerField()),
                ("applied_at", models.DateTimeField()),
            ],
            options={
                "db_table": "sales_rollup_state",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("id", True)), name="ck_sales_rollup_state_one_row"
                    )
                ],
            },
        ),
    ]
