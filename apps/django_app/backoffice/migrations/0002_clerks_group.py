"""The ``clerks`` group: the daily work (restock, mark paid, ship, cancel), nothing more.

Django creates permissions after all migrations have run (post_migrate), so this
migration creates them first, for every app, before giving some to the group.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CLERKS = "clerks"
CLERK_PERMISSIONS = (
    ("backoffice", "view_product"),
    ("backoffice", "restock_product"),
    ("backoffice", "view_order"),
    ("backoffice", "change_order_status"),
    ("backoffice", "view_orderline"),
    ("backoffice", "view_customer"),
    ("backoffice", "view_stockmovement"),
)


def create_clerks(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=CLERKS)
    permissions = []
    for app_label, codename in CLERK_PERMISSIONS:
        permissions.append(
            Permission.objects.using(schema_editor.connection.alias).get(
                content_type__app_label=app_label, codename=codename
            )
        )
    group.permissions.set(permissions)


def delete_clerks(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=CLERKS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_clerks, delete_clerks)]
