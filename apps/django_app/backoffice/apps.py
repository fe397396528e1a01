from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "apps.django_app.backoffice"
    label = "backoffice"
    verbose_name = "Back office"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from apps.django_app.backoffice import identity

        # Staff sessions in the shared schema (identity.py): begun on login, ended on logout.
        user_logged_in.connect(identity.on_login, dispatch_uid="backoffice.identity.login")
        user_logged_out.connect(identity.on_logout, dispatch_uid="backoffice.identity.logout")
