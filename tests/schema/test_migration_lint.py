"""squawk, the Postgres migration linter, finds nothing in any revision's SQL.

Each revision is linted on its own, as `mergepoint migrate --sql` prints it for a DBA who
applies it by hand (with the lock and statement timeouts the online path sets). Rules we
keep ignoring are named, with the reason, in .squawk.toml.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schema import migrations
from schema.paths import ROOT

REVISIONS = migrations.history()


def squawk() -> str:
    """squawk from the dev extra (squawk-cli), next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.exists() else shutil.which("squawk")
    assert found, "squawk is installed with the dev extra (squawk-cli)"
    return found


@pytest.mark.parametrize(("revision", "down", "message"), REVISIONS, ids=[r[0] for r in REVISIONS])
def test_squawk_finds_nothing_in_the_revision(tmp_path, revision, down, message):
    sql = migrations.offline_sql(None, revision, start=down)
    assert "SET LOCAL lock_timeout" in sql and "SET LOCAL statement_timeout" in sql
    path = tmp_path / f"{revision}.sql"
    path.write_text(sql)
    result = subprocess.run(
        [squawk(), "--reporter", "gcc", str(path)],
        cwd=ROOT,  # where .squawk.toml is
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_squawk_would_catch_a_revision_without_timeouts(tmp_path):
    """The lint can fail: the same SQL without the timeouts is flagged."""
    sql = migrations.offline_sql(None, REVISIONS[0][0])
    bare = "\n".join(line for line in sql.splitlines() if "_timeout" not in line)
    path = tmp_path / "bare.sql"
    path.write_text(bare)
    result = subprocess.run(
        [squawk(), "--reporter", "gcc", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0 and "require-lock-timeout" in result.stdout
