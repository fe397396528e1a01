"""How the pieces are assembled: each app's own migration command, run as that app.

The neutral package imports neither application; it runs their commands in
subprocesses with only that app's URL variable set, as an operator would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from schema.db import ROLE_URL_VARS
from schema.errors import MergepointError
from schema.migrations import ROOT


@dataclass(frozen=True)
class AppMigration:
    role: str
    argv: tuple[str, ...]

    @property
    def url_var(self) -> str:
        return ROLE_URL_VARS[self.role]


APP_MIGRATIONS = (
    AppMigration(
        "storefront", (sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", "upgrade")
    ),
    AppMigration(
        "backoffice",
        (sys.executable, str(ROOT / "apps" / "django_app" / "manage.py"), "migrate", "--noinput"),
    ),
)


def app_env(role: str, url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment an app process gets: its own URL variable, no other database URL."""
    env = dict(os.environ if base is None else base)
    for var in (*ROLE_URL_VARS.values(), "MERGEPOINT_DATABASE_URL"):
        env.pop(var, None)
    env[ROLE_URL_VARS[role]] = url
    return env


def run_app_migrations(envs: Mapping[str, Mapping[str, str]]) -> None:
    """Run the own migrations of each app given an environment (role -> env), as that role."""
    for migration in APP_MIGRATIONS:
        if migration.role not in envs:
            continue
        result = subprocess.run(
            migration.argv,
            cwd=ROOT,
            env=dict(envs[migration.role]),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
            raise MergepointError(
                f"{migration.role} migrations failed ({' '.join(migration.argv[1:])}): "
                f"{last[0] if last else 'exit ' + str(result.returncode)}"
            )
