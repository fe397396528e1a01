"""The import contracts (pyproject [tool.importlinter]) hold: checked on every test run."""

import os

from importlinter.cli import lint_imports


def test_import_contracts_hold(capsys, monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exit_code = lint_imports(no_cache=True)
    output = capsys.readouterr().out
    assert exit_code == 0, output
    assert "0 broken" in output
