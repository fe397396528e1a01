"""Clerks see the staff feed and mark items seen, and see the shop's settings."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = ("view_feeditem", "change_feeditem", "view_shopsettings")


def grant(apps, schema_editor):
    alias = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.using(alias).get(name="clerks")
    group.permissions.add(
        *Permission.objects.using(alias).filter(
            content_type__app_label="backoffice", codename__in=PERMISSIONS
        )
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(schema_editor.connection.alias).filter(name="clerks").first()
    if group is not None:
        group.permissions.remove(*group.permissions.filter(codename__in=PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0004_feed")]

    operations = [migrations.RunPython(grant, revoke)]
