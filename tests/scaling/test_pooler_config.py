"""The pooler's generated files, read as PgBouncer reads them.

Debian's PgBouncer (1.18) runs live in the other tests; the configuration for 1.21+ is
checked here as configuration: it differs from 1.18's by ``max_prepared_statements`` only,
which 1.18 itself refuses (so the version must be read before writing it).
"""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
from pathlib import Path

import pytest

from schema import pooler
from schema.urls import is_pooled, prepare_threshold, split_app_params
from tests.support import free_port


def config(tmp_path: Path, version: tuple[int, int] = (1, 18), **changes) -> pooler.Config:
    values = {
        "directory": tmp_path / "pooler",
        "server_host": "/srv/pg data",
        "server_port": 5432,
        "owner": "mergepoint",
        "users": ("storefront", "backoffice"),
        "databases": ("mergepoint",),
        "version": version,
        "os_user": None,
    }
    values.update(changes)
    return pooler.Config(**values)


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(delimiters=("=",), comment_prefixes=(";",))
    parser.read_string(text)
    return parser


def test_transaction_pooling_scram_from_a_user_list_and_rules_of_its_own(tmp_path):
    parsed = ini(pooler.render_ini(config(tmp_path, pool_size=7, max_client_conn=300)))
    settings = parsed["pgbouncer"]
    assert settings["pool_mode"] == "transaction"
    assert (settings["default_pool_size"], settings["max_client_conn"]) == ("7", "300")
    assert settings["auth_type"] == "hba"
    assert settings["auth_file"].endswith("userlist.txt")
    assert settings["admin_users"] == "mergepoint"
    assert "auth_query" not in settings  # needs a superuser-made lookup function
    # A path with a space is quoted as PgBouncer's connection strings want it.
    assert parsed["databases"]["mergepoint"] == "host='/srv/pg data' port=5432 dbname=mergepoint"


def test_startup_options_are_never_ignored(tmp_path):
    """`ignore_startup_parameters = options` would let the back office connect and drop its
    options without a word: the generated file never sets it, in any version."""
    for version in ((1, 18), (1, 21), (1, 23)):
        settings = ini(pooler.render_ini(config(tmp_path, version)))["pgbouncer"]
        assert "ignore_startup_parameters" not in settings


def test_pgbouncer_1_21_tracks_prepared_statements_and_1_22_urls_use_them(tmp_path):
    old, new = (pooler.render_ini(config(tmp_path, v)) for v in ((1, 18), (1, 21)))
    assert "max_prepared_statements" not in ini(old)["pgbouncer"]
    assert ini(new)["pgbouncer"]["max_prepared_statements"] == "200"
    extra = [line for line in new.splitlines() if line not in old.splitlines()]
    assert [line for line in extra if not line.startswith(";")] == ["max_prepared_statements = 200"]
    # The URLs: prepared statements stay off below psycopg's documented minimum (1.22).
    for version, threshold in (((1, 18), None), ((1, 21), None), ((1, 22), 5), ((1, 23), 5)):
        url = pooler.pooled_url(config(tmp_path, version), "storefront", "pw", "mergepoint")
        assert is_pooled(url)
        assert prepare_threshold(url) == threshold, version


def test_the_installed_pgbouncer_reads_the_1_21_setting_only_from_1_21_on(foreign_tmp):
    """Debian's 1.18 refuses `max_prepared_statements` outright (FATAL): the version is
    read before the file is written."""
    installed = pooler.version()
    made = config(foreign_tmp, (1, 21), os_user=pooler.os_user_for("/"), port=free_port())
    pooler.write(made, {"storefront": "a" * 24, "backoffice": "b" * 24})
    process = subprocess.Popen(
        pooler.argv(made, daemon=False), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = process.communicate(timeout=3)
    except subprocess.TimeoutExpired:  # it runs: the setting was understood
        process.terminate()
        output, _ = process.communicate(timeout=10)
    if installed < pooler.TRACKS_PREPARED:
        assert "unknown parameter: pgbouncer/max_prepared_statements" in output, output
        assert "FATAL cannot load config file" in output
    else:
        assert "unknown parameter" not in output, output


def test_the_user_list_and_rules(tmp_path):
    made = config(tmp_path)
    pooler.write(made, {"storefront": 'pa"ss', "backoffice": "b" * 24})
    users = (made.directory / pooler.USERLIST).read_text().splitlines()
    owner_password = pooler.console_password(made.directory)
    assert users == [
        f'"backoffice" "{"b" * 24}"',
        f'"mergepoint" "{owner_password}"',
        '"storefront" "pa""ss"',
    ]
    for name in (pooler.USERLIST, pooler.INI, pooler.HBA):
        assert stat.S_IMODE(os.stat(made.directory / name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(made.directory).st_mode) == 0o700
    rules = [
        line.split()
        for line in (made.directory / pooler.HBA).read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules == [
        ["host", "pgbouncer", "mergepoint", "127.0.0.1/32", "scram-sha-256"],
        ["host", "pgbouncer", "mergepoint", "::1/128", "scram-sha-256"],
        ["host", "mergepoint", "storefront,backoffice", "0.0.0.0/0", "scram-sha-256"],
        ["host", "mergepoint", "storefront,backoffice", "::/0", "scram-sha-256"],
    ]
    assert pooler.load(made.directory) == made


def test_names_that_are_not_plain_are_refused(tmp_path):
    with pytest.raises(Exception, match="only plain names"):
        pooler.write(config(tmp_path, users=("store front",)), {"store front": "x" * 24})


def test_pooled_urls_carry_our_parameter_which_libpq_never_sees(tmp_path):
    url = pooler.pooled_url(config(tmp_path), "storefront", "p@ss", "mergepoint")
    assert url == "postgresql://storefront:p%40ss@127.0.0.1:6432/mergepoint?pooler=transaction"
    assert split_app_params(url) == (
        "postgresql://storefront:p%40ss@127.0.0.1:6432/mergepoint",
        {"pooler": "transaction"},
    )
