"""How the pieces are assembled: each app's environment and its own migration command.

The neutral package imports neither application; it runs their commands in
subprocesses with only that app's URL variable set, as an operator would.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from schema.db import ENV_URL
from schema.errors import MergepointError
from schema.paths import ROOT
from schema.registry import APPS, DIRECT_URL_VARS, URL_VARS


def app_env(
    role: str, url: str, base: Mapping[str, str] | None = None, *, direct: str | None = None
) -> dict[str, str]:
    """The environment an app process gets: its own URL variable (and its direct one, when
    given), no other database URL."""
    env = dict(os.environ if base is None else base)
    for var in (*URL_VARS.values(), *DIRECT_URL_VARS.values(), ENV_URL):
        env.pop(var, None)
    env[URL_VARS[role]] = url
    if direct is not None and role in DIRECT_URL_VARS:
        env[DIRECT_URL_VARS[role]] = direct
    return env


def one_host_env(envs: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """One process for both apps (apps/onehost.py): each app's environment, merged. Each
    app still reads only its own variables and connects as its own role; the process holds
    both URLs."""
    merged: dict[str, str] = {}
    for app in APPS:
        merged.update(envs[app.name])
    for app in APPS:
        merged[URL_VARS[app.name]] = envs[app.name][URL_VARS[app.name]]
    return merged


def run_app_migrations(envs: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Run the own migrations of each app given an environment (role -> env), as that role.

    Returns the commands run, as their users know them (``storefront (flask db upgrade)``).
    """
    done = []
    for app in APPS:
        if app.name not in envs:
            continue
        argv = app.migrate_argv()
        result = subprocess.run(
            argv, cwd=ROOT, env=dict(envs[app.name]), capture_output=True, text=True
        )
        if result.returncode != 0:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
            raise MergepointError(
                f"{app.name} migrations failed ({' '.join(argv[1:])}): "
                f"{last[0] if last else 'exit ' + str(result.returncode)}"
            )
        done.append(f"{app.name} ({app.migrate_label})")
    return done
