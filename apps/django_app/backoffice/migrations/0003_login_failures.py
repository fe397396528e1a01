# backoffice.login_failures: failed admin logins per username and per client address, in
# the database so that every process and host counts them together (throttle.py).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0002_clerks_group"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoginFailure",
            fields=[
                ("bucket", models.TextField(primary_key=True, serialize=False)),
                ("window_ends", models.DateTimeField()),
                ("failures", models.BigIntegerField()),
            ],
            options={
                "db_table": "login_failures",
                "indexes": [
                    models.Index(fields=["window_ends"], name="ix_login_failures_window_ends")
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("failures__gte", 0)),
                        name="ck_login_failures_failures",
                    )
                ],
            },
        ),
    ]
