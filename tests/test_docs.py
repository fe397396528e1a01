"""The README cannot drift from the commands (as sqlite-utils' tests/test_docs.py checks).

* every command and subcommand of ``mergepoint`` is documented in the README;
* every ``$ mergepoint … --help`` excerpt in the README is the real help, line for line
  (a line of ``…`` stands for lines left out);
* every variable the code reads is in the README's environment table, and every variable
  an app reads is in its own README's table too.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from apps.flask_app import cors
from schema import db, embedded, migrations
from schema.cli import main
from schema.paths import ROOT
from schema.registry import APPS, DIRECT_URL_VARS, URL_VARS

README = (ROOT / "README.md").read_text()
HELP_BLOCK = re.compile(r"^\$ (mergepoint[^\n]* --help)\n(.*?)(?=^\$ |^```)", re.M | re.S)


def commands(group: click.Group, prefix: str = "mergepoint") -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append(path)
        if isinstance(command, click.Group):
            found += commands(command, path)
    return found


@pytest.mark.parametrize("command", commands(main))
def test_every_command_is_documented_in_the_readme(command):
    assert f"`{command}" in README or f"$ {command}" in README, f"{command} is not in README.md"


def help_excerpts() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in HELP_BLOCK.finditer(README)]


def test_the_readme_shows_help_excerpts():
    assert help_excerpts(), "README.md shows no `$ mergepoint … --help` output"


@pytest.mark.parametrize(("command", "shown"), help_excerpts(), ids=lambda v: str(v)[:40])
def test_help_excerpts_in_the_readme_are_the_real_help(command, shown):
    args = command.split()[1:]
    # click wraps help at min(columns, 80) - 2, as a terminal shows it
    result = CliRunner().invoke(main, args, prog_name="mergepoint", terminal_width=78)
    assert result.exit_code == 0, result.output
    real = result.output.splitlines()
    position = 0
    for line in shown.rstrip("\n").splitlines():
        if line.strip() == "…":
            continue
        assert line in real[position:], f"README shows a line `{command}` does not print: {line!r}"
        position = real.index(line, position) + 1


def test_every_variable_the_code_reads_is_in_the_environment_table():
    variables = [
        db.ENV_URL,
        db.ENV_PREFIX,
        embedded.ENV_DATA_DIR,
        migrations.ENV_LOCK_TIMEOUT,
        migrations.ENV_STATEMENT_TIMEOUT,
        migrations.ENV_ALEMBIC_DIR,
        *URL_VARS.values(),
        cors.ENV,
        *(app.script_name_var for app in APPS if app.script_name_var),
        "BACKOFFICE_STOREFRONT_URL",  # apps/django_app/config/environment.storefront_url
        *DIRECT_URL_VARS.values(),
    ]
    table = README[README.index("## Environment variables") :]
    missing = [v for v in variables if f"`{v}`" not in table]
    assert not missing, missing


# Variables an app's code names but does not read as a setting: Django's own module
# variable, and one it refuses with a one-line error naming its replacement.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE", "DJANGO_SECURE_COOKIES"}
APP_VARIABLES = re.compile(r'"((?:STOREFRONT|BACKOFFICE|DJANGO)_[A-Z_]+)"')


def app_variables(*sources: str) -> list[str]:
    found = set()
    for pattern in sources:
        for path in ROOT.glob(pattern):
            found.update(APP_VARIABLES.findall(path.read_text()))
    return sorted(found - NOT_SETTINGS)


@pytest.mark.parametrize(
    ("readme", "sources"),
    [
        ("apps/flask_app/README.md", ("apps/flask_app/*.py",)),
        ("apps/django_app/README.md", ("apps/django_app/config/*.py",)),
    ],
)
def test_every_variable_an_app_reads_is_in_its_readme_table(readme, sources):
    variables = app_variables(*sources)
    assert variables, sources
    rows = [line for line in (ROOT / readme).read_text().splitlines() if line.startswith("| `")]
    missing = [v for v in variables if not any(f"`{v}`" in row for row in rows)]
    assert not missing, (readme, missing)
    root_table = README[README.index("## Environment variables") :]
    assert not [
        v
        for v in variables
        if v.startswith(("STOREFRONT_", "BACKOFFICE_")) and f"`{v}`" not in root_table
    ]
