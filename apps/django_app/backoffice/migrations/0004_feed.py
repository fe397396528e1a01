# The staff feed (FeedItem, in `backoffice`) and the shared shop settings (unmanaged).

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0003_login_failures"),
    ]

    operations = [
        migrations.CreateModel(
            name="ShopSettings",
            fields=[
                (
                    "id",
                    models.BooleanField(
                        default=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "low_stock_threshold",
                    models.IntegerField(
                        help_text="A product is low on stock at or below this many units.",
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(1000000),
                        ],
                        verbose_name="low-stock threshold",
                    ),
                ),
            ],
            options={
                "verbose_name": "shop settings",
                "verbose_name_plural": "shop settings",
                "db_table": "settings",
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="FeedItem",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("event_id", models.BigIntegerField(unique=True)),
                (
                    "kind",
                    models.TextField(
                        choices=[("order.placed", "new order"), ("stock.low", "low stock")]
                    ),
                ),
                ("order_id", models.BigIntegerField(blank=True, null=True)),
                ("product_id", models.BigIntegerField(blank=True, null=True)),
                ("message", models.TextField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("seen_at", models.DateTimeField(blank=True, null=True)),
                ("seen_by", models.TextField(blank=True, default="")),
            ],
            options={
                "ordering": ("-id",),
                "indexes": [models.Index(fields=["seen_at", "id"], name="feed_unseen")],
            },
        ),
    ]
