#!/usr/bin/env python
"""The back office's command line: ``python apps/django_app/manage.py <command>``."""

import os
import sys
from pathlib import Path


def main() -> None:
    # Runnable from a plain checkout too: the repository root makes ``apps`` importable.
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_app.config.settings")

    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - load the settings to report a bad environment
    except ImproperlyConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:
        # An unreachable server or a refused login: say so in one line, not a traceback.
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"error: cannot use the database (BACKOFFICE_DATABASE_URL): {reason}", file=sys.stderr
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
