# The shared tables, as unmanaged models: this creates no table (see models.py).

import django.core.validators
import django.db.models.expressions
import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("email", models.TextField()),
                ("name", models.TextField()),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
            ],
            options={
                "db_table": "customers",
                "ordering": ("-id",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "status",
                    models.TextField(
                        choices=[
                            ("placed", "placed"),
                            ("paid", "paid"),
                            ("shipped", "shipped"),
                            ("cancelled", "cancelled"),
                        ],
                        db_default="placed",
                        default="placed",
                    ),
                ),
                (
                    "total_cents",
                    models.BigIntegerField(
                        db_default=0, editable=False, verbose_name="total (cents)"
                    ),
                ),
                (
                    "placed_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
                ("idempotency_key", models.TextField(blank=True, editable=False, null=True)),
                ("request_hash", models.TextField(blank=True, editable=False, null=True)),
            ],
            options={
                "db_table": "orders",
                "ordering": ("-id",),
                "permissions": [
                    ("change_order_status", "Can mark orders paid, ship and cancel them")
                ],
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="OrderLine",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "order",
                        "product",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("quantity", models.IntegerField()),
                ("unit_price_cents", models.IntegerField(verbose_name="unit price (cents)")),
            ],
            options={
                "db_table": "order_lines",
                "ordering": ("order", "product"),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Product",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "sku",
                    models.TextField(
                        help_text="Cannot be changed once saved.",
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Z0-9][A-Z0-9-]{0,63}$",
                                "Use 1 to 64 capital letters, digits and dashes, "
                                "starting with a letter or digit.",
                            )
                        ],
                        verbose_name="SKU",
                    ),
                ),
                (
                    "name",
                    models.TextField(validators=[django.core.validators.MaxLengthValidator(200)]),
                ),
                (
                    "price_cents",
                    models.IntegerField(
                        validators=[django.core.validators.MinValueValidator(0)],
                        verbose_name="price (cents)",
                    ),
                ),
                ("stock", models.IntegerField(db_default=0, editable=False)),
                ("active", models.BooleanField(db_default=True, default=True)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
            ],
            options={
                "db_table": "products",
                "ordering": ("sku",),
                "permissions": [("restock_product", "Can restock products")],
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="StockMovement",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("delta", models.IntegerField()),
                (
                    "reason",
                    models.TextField(
                        choices=[
                            ("restock", "restock"),
                            ("sale", "sale"),
                            ("cancel", "cancel"),
                            ("adjust", "adjust"),
                        ]
                    ),
                ),
                (
                    "actor",
                    models.TextField(
                        db_default=django.db.models.expressions.RawSQL(
                            "COALESCE(NULLIF(current_setting('mergepoint.actor', true), ''),"
                            " session_user)",
                            (),
                        ),
                        editable=False,
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
            ],
            options={
                "db_table": "stock_movements",
                "ordering": ("-id",),
                "managed": False,
            },
        ),
    ]
