"""The README cannot drift from the commands (as sqlite-utils' tests/test_docs.py checks).

* every command and subcommand of ``mergepoint`` is documented in the README;
* every ``$ mergepoint … --help`` excerpt in the README is the real help, line for line
  (a line of ``…`` stands for lines left out);
* every variable the code reads is in the README's environment table.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from schema import db, embedded, migrations
from schema.cli import main
from schema.paths import ROOT
from schema.registry import DIRECT_URL_VARS, URL_VARS

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
        *DIRECT_URL_VARS.values(),
    ]
    table = README[README.index("## Environment variables") :]
    missing = [v for v in variables if f"`{v}`" not in table]
    assert not missing, missing
