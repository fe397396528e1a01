"""Both apps behind one address: the storefront at ``/``, the back office at ``/backoffice/``.

    gunicorn apps.onehost:application

One WSGI application that dispatches by path (werkzeug's DispatcherMiddleware) to the two
apps, each loaded by its WSGI target string from schema.registry, exactly as gunicorn
would load it on its own. So this module imports neither app by name (an import contract
in pyproject.toml keeps it so), and each app reads only its own variables: the storefront
STOREFRONT_DATABASE_URL, the back office BACKOFFICE_DATABASE_URL and DJANGO_*. Each still
connects as its own role, but this one process holds both roles' URLs: that is what one
address costs (docs: README, "One host").

A mounted app is told its prefix before it loads when it must know it at start
(``DJANGO_SCRIPT_NAME``, for the back office's static files); the dispatcher sets
SCRIPT_NAME and PATH_INFO on every request, which is all Flask needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.utils import import_string

from schema.registry import APPS

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def load(target: str) -> WSGIApp:
    """A WSGI target as gunicorn spells it: ``module:name`` or ``module:factory()``."""
    module, _, name = target.partition(":")
    call = name.endswith("()")
    found = import_string(f"{module}:{name.removesuffix('()') or 'application'}")
    return found() if call else found  # type: ignore[no-any-return]


def build(environ: MutableMapping[str, str] = os.environ) -> DispatcherMiddleware:
    root: WSGIApp | None = None
    mounts: dict[str, WSGIApp] = {}
    for app in APPS:
        if app.script_name_var:
            environ[app.script_name_var] = app.mount
        if app.mount:
            mounts[app.mount] = load(app.wsgi)
        else:
            root = load(app.wsgi)
    assert root is not None, "one app is mounted at the root"
    return DispatcherMiddleware(root, mounts)


application = build()
