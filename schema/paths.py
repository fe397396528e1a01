"""Where mergepoint's own files are: it runs from a checkout (``pip install -e .``).

The one repository-root constant: Alembic's directory, the apps' commands and the report
files are found from here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = ROOT / "alembic.ini"
