# The product import: its rows, progress and per-batch results (the back office's own tables).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0006_staff_sessions_follow_users"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductImport",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("filename", models.TextField()),
                ("username", models.TextField()),
                ("rows", models.JSONField()),
                ("total_rows", models.IntegerField()),
                ("done_rows", models.IntegerField(default=0)),
                ("created", models.IntegerField(default=0)),
                ("updated", models.IntegerField(default=0)),
                ("unchanged", models.IntegerField(default=0)),
                (
                    "status",
                    models.TextField(
                        choices=[("queued", "queued"), ("running", "running"), ("done", "done")],
                        default="queued",
                    ),
                ),
                ("job_id", models.BigIntegerField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "product_imports",
                "ordering": ("-id",),
            },
        ),
        migrations.CreateModel(
            name="ProductImportBatch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("first_row", models.IntegerField()),
                ("outcome", models.TextField()),
                ("written_at", models.DateTimeField(auto_now_add=True)),
                (
                    "product_import",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="batches",
                        to="backoffice.productimport",
                    ),
                ),
            ],
            options={
                "db_table": "product_import_batches",
            },
        ),
        migrations.AddConstraint(
            model_name="productimport",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("done_rows__gte", 0), ("done_rows__lte", models.F("total_rows"))
                ),
                name="ck_product_imports_done_rows",
            ),
        ),
        migrations.AddConstraint(
            model_name="productimportbatch",
            constraint=models.UniqueConstraint(
                fields=("product_import", "first_row"), name="uq_product_import_batches_row"
            ),
        ),
    ]
