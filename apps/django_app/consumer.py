"""The back office's ``mergepoint.consumers`` entry point: its description, as plain data.

Django's models need configured settings, and configuring them inside someone else's
process would clash with theirs; so the description is computed in a subprocess that
prints JSON (``python -m apps.django_app.backoffice.contract``), with no database URL
or secret needed. This module imports nothing of Django.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def describe() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "apps.django_app.backoffice.contract"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise RuntimeError(f"the back office could not describe itself: {last}")
    return json.loads(result.stdout)
