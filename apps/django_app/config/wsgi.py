"""WSGI entry point: ``gunicorn apps.django_app.config.wsgi``."""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_app.config.settings")

try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    # A bad environment is one line, as from manage.py: gunicorn prints an AppImportError's
    # message and stops, where any other error is a traceback from every worker it boots.
    try:
        from gunicorn.errors import AppImportError
    except ImportError:  # another WSGI server reports it its own way
        raise exc from None
    raise AppImportError(f"error: {exc}") from exc

# Say in the start-up log, in one line, if `manage.py migrate` has not run (or the
# database cannot be reached); the pages say it too, with a 503.
from apps.django_app.backoffice import readiness  # noqa: E402 - needs the settings loaded

readiness.report_at_start()
