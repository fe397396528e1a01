"""App-role passwords on a server that asks for them (`mergepoint db password`)."""

from __future__ import annotations

import base64

import psycopg
import pytest
from click.testing import CliRunner

from schema import embedded, passwords
from schema.cli import main
from schema.registry import URL_VARS
from tests.support import one_line_error


@pytest.mark.slow
def test_password_set_kept_and_used_on_a_server_that_asks_for_it(tmp_path):
    data = tmp_path / "data"
    # Nothing of the test session's own database: this runs against a server of its own.
    unset = (*URL_VARS.values(), "MERGEPOINT_ROLE_PREFIX")
    env: dict[str, str | None] = dict.fromkeys(unset)
    env.update(MERGEPOINT_DATABASE_URL=None, MERGEPOINT_DATA_DIR=str(data))
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), env=env, input=input)

    try:
        assert run("db", "start").exit_code == 0
        assert run("migrate").exit_code == 0
        # Password authentication for every role but the superuser and the owner.
        hba = data / "pgdata" / "pg_hba.conf"
        hba.write_text(
            "local all postgres trust\nlocal all mergepoint trust\nlocal all all scram-sha-256\n"
        )
        superuser = embedded.running_url(data)
        assert superuser is not None
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
            # Our SCRAM verifier is PostgreSQL's own: recompute the one the server made.
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute("ALTER ROLE storefront PASSWORD 'server-hashed-password'")
            stored = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'storefront'"
            ).fetchone()[0]
        iterations, salt = stored.split("$")[1].split(":")
        assert stored == passwords.scram_verifier(
            "server-hashed-password", salt=base64.b64decode(salt), iterations=int(iterations)
        )

        refused = run("report", "run", "low_stock")
        assert refused.exit_code == 1
        one_line_error(
            refused.output, "REPORTING_DATABASE_URL", "mergepoint db password reporting"
        )

        made = run("db", "password", "reporting")
        assert made.exit_code == 0, made.output
        url = made.output.strip()
        assert url.startswith("postgresql://reporting:") and "\n" not in url
        assert (data / passwords.FILE).stat().st_mode & 0o777 == 0o600
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("reporting",)
        assert run("report", "run", "low_stock").exit_code == 0  # the kept password
        assert url in run("env").output

        short = run("db", "password", "reporting", "--stdin", input="short\n")
        assert short.exit_code == 1
        one_line_error(short.output, "at least 16 characters")
        given = run("db", "password", "reporting", "--stdin", input="a-given-password-1234\n")
        assert given.exit_code == 0 and ":a-given-password-1234@" in given.output
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url).close()  # the old password no longer works
    finally:
        embedded.stop(data)
