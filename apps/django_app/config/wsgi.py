"""WSGI entry point: ``gunicorn apps.django_app.config.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_app.config.settings")

application = get_wsgi_application()
