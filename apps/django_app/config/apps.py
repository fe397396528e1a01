"""Django's admin, with the back office's site as the default one (``admin.site``)."""

from django.contrib.admin.apps import AdminConfig


class BackofficeAdminConfig(AdminConfig):
    default_site = "apps.django_app.backoffice.sites.BackofficeSite"
