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
