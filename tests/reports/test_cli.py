"""``mergepoint report list | show | run`` against a real database, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from schema.cli.report import report

from .conftest import assert_one_line_error

MARCH = ("-p", "date_from=2026-03-01", "-p", "date_to=2026-03-03")


def write_report(directory: Path, name: str, header: str, sql: str) -> None:
    (directory / f"{name}.sql").write_text(f"-- name: {name}\n{header}{sql}\n")


def test_list_names_every_report_with_its_title(cli):
    result = cli("list")
    assert result.exit_code == 0, result.output
    for name, title in [
        ("sales_by_day", "Sales by day"),
        ("top_products", "Top products"),
        ("low_stock", "Low stock"),
        ("ledger_audit", "Ledger audit"),
        ("customer_lifetime_value", "Customer lifetime value"),
        ("order_status_funnel", "Order status funnel"),
    ]:
        line = next(line for line in result.output.splitlines() if f" {name} " in line)
        assert title in line


def test_show_prints_the_description_parameters_and_sql(cli):
    result = cli("show", "top_products")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("top_products: Top products\n\nThe products that brought in the most")
    assert "  limit      int(1..10000), default 10. How many products to list" in out
    assert "  date_from  date, default today-29." in out
    assert "mergepoint report run top_products --param limit=5" in out
    assert "LIMIT :limit;" in out and "-- name:" not in out


def test_run_prints_a_table_by_default(cli, small_shop):
    result = cli("run", "sales_by_day", *MARCH)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Sales by day"
    assert "2026-03-01" in result.output and lines[-1] == "3 rows"
    row = next(line for line in lines if "2026-03-02" in line)
    assert row.split() == ["2026-03-02", "1", "3", "1200", "0"]


def test_run_as_json_and_csv(cli, small_shop):
    as_json = cli("run", "sales_by_day", *MARCH, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)[0] == {
        "day": "2026-03-01",
        "orders": 2,
        "units": 4,
        "revenue_cents": 1200,
        "cancelled_orders": 0,
    }
    as_csv = cli("run", "top_products", "-p", "limit=1", *MARCH, "-f", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.output.splitlines()[0] == "product_id,sku,name,units,revenue_cents,orders"
    assert as_csv.output.splitlines()[1].endswith(",COF-1,Product COF-1,4,1600,2")


def test_run_writes_to_a_file_only_when_the_report_succeeds(cli, small_shop, tmp_path, reports_dir):
    out = tmp_path / "stock.csv"
    result = cli("run", "low_stock", "-p", "threshold=2", "-f", "csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "1 row(s) written to" in result.stderr
    assert out.read_text().splitlines()[1].endswith(",TEA-2,Product TEA-2,2,true")

    write_report(
        reports_dir,
        "broken",
        "-- title: Broken\n-- description: Fails in the database, after binding.\n",
        "SELECT 1 / (count(*) - count(*)) AS x FROM shop.products",
    )
    failed = tmp_path / "failed.csv"
    bad = cli("run", "broken", "--reports-dir", str(reports_dir), "--output", str(failed))
    assert_one_line_error(bad, "report broken failed: division by zero")
    assert not failed.exists()


def test_run_connects_as_the_reporting_role_derived_from_the_owner_url(cli, fresh_db, reports_dir):
    write_report(
        reports_dir,
        "whoami",
        "-- title: Who\n-- description: Who runs reports.\n",
        "SELECT current_user AS who, current_setting('transaction_read_only') AS read_only,"
        " current_setting('statement_timeout') AS timeout",
    )
    env = {
        "REPORTING_DATABASE_URL": None,
        "MERGEPOINT_DATABASE_URL": fresh_db.owner_url,
        "MERGEPOINT_ROLE_PREFIX": fresh_db.prefix,
    }
    result = cli(
        "run", "whoami", "--reports-dir", str(reports_dir), "-f", "json", "--timeout", "45", env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"who": f"{fresh_db.prefix}reporting", "read_only": "on", "timeout": "45s"}
    ]


def test_unknown_report_lists_the_known_ones(cli):
    assert_one_line_error(
        cli("run", "sales"),
        "unknown report 'sales'; known reports: customer_lifetime_value, ledger_audit, low_stock,",
    )
    assert_one_line_error(cli("show", "sales"), "unknown report 'sales'")


def test_wrong_parameters_name_the_parameter_and_its_type(cli):
    assert_one_line_error(
        cli("run", "top_products", "-p", "limit=ten"),
        "parameter limit: expected int between 1 and 10000, got 'ten'",
    )
    assert_one_line_error(
        cli("run", "sales_by_day", "-p", "date_from=yesterday"),
        "parameter date_from: expected date (YYYY-MM-DD, today or today-N), got 'yesterday'",
    )
    assert_one_line_error(
        cli("run", "low_stock", "-p", "include_inactive=perhaps"),
        "parameter include_inactive: expected bool (true or false)",
    )
    assert_one_line_error(
        cli("run", "low_stock", "-p", "treshold=3"),
        "report low_stock has no parameter 'treshold'; its parameters: threshold (int >= 0),",
    )
    assert_one_line_error(cli("run", "ledger_audit", "-p", "limit=3"), "it takes no parameters")
    assert_one_line_error(cli("run", "low_stock", "-p", "threshold"), "write it as key=value")
    assert_one_line_error(
        cli("run", "low_stock", "-p", "threshold=1", "-p", "threshold=2"),
        "parameter threshold given twice",
    )
    assert_one_line_error(cli("run", "low_stock", "--timeout", "soon"), "invalid --timeout 'soon'")


def test_a_missing_required_parameter_names_it_and_its_type(cli, reports_dir):
    write_report(
        reports_dir,
        "one_day",
        "-- title: One day\n-- description: A day.\n"
        "-- param: day date  The day, e.g. 2026-03-01.\n",
        "SELECT CAST(:day AS date) AS day",
    )
    assert_one_line_error(
        cli("run", "one_day", "--reports-dir", str(reports_dir)),
        "missing parameter day (date (YYYY-MM-DD, today or today-N)) for report one_day",
    )
    ok = cli(
        "run", "one_day", "-p", "day=2026-03-01", "--reports-dir", str(reports_dir), "-f", "csv"
    )
    assert ok.output == "day\n2026-03-01\n"


def test_a_report_that_runs_too_long_is_cancelled_and_says_so(cli, reports_dir):
    write_report(
        reports_dir,
        "slow",
        "-- title: Slow\n-- description: Sleeps.\n-- param: seconds int(0..60) = 5  How long.\n",
        "SELECT 1 AS done FROM pg_sleep(:seconds)",
    )
    result = cli("run", "slow", "--timeout", "200ms", "--reports-dir", str(reports_dir))
    assert_one_line_error(
        result, "report slow timed out after 200ms (statement timeout)", "--timeout"
    )


def test_a_report_that_writes_is_refused_even_for_a_role_that_may_write(
    cli, fresh_db, owner, reports_dir
):
    write_report(
        reports_dir,
        "sneaky",
        "-- title: Sneaky\n-- description: Writes.\n",
        "INSERT INTO shop.customers (email, name) VALUES ('x@example.com', 'X') RETURNING id",
    )
    as_reporting = cli("run", "sneaky", "--reports-dir", str(reports_dir))
    assert_one_line_error(as_reporting, "report sneaky tried to write", "read-only")
    # The CLI's own read-only transaction holds even when the URL is the owner's.
    as_owner = cli(
        "run",
        "sneaky",
        "--reports-dir",
        str(reports_dir),
        env={"REPORTING_DATABASE_URL": fresh_db.owner_url},
    )
    assert_one_line_error(as_owner, "report sneaky tried to write")
    assert owner.execute("SELECT count(*) FROM shop.customers").fetchone()[0] == 0


def test_a_bad_report_file_is_one_line(cli, reports_dir):
    (reports_dir / "broken.sql").write_text("SELECT 1\n")
    assert_one_line_error(
        cli("list", "--reports-dir", str(reports_dir)), "broken.sql", "-- name: broken"
    )


def test_a_database_not_yet_migrated_says_what_to_do(cli, fresh_db):
    from schema import migrations

    migrations.downgrade(fresh_db.owner_url, "0002")
    assert_one_line_error(
        cli("run", "ledger_audit"),
        'report ledger_audit failed: relation "reporting.ledger_audit" does not exist',
        "run: mergepoint migrate",
    )


def test_unreachable_database_is_one_line(cli, tmp_path):
    url = f"postgresql://nobody@/nothing?host={tmp_path}"
    assert_one_line_error(
        cli("run", "low_stock", env={"REPORTING_DATABASE_URL": url}), "cannot connect"
    )


def test_every_command_and_option_has_help_with_an_example():
    assert "Example" in (report.help or "")
    for command in report.commands.values():
        assert "Example" in (command.help or ""), command.name
        for param in command.params:
            if isinstance(param, click.Option):
                assert "Example" in (param.help or ""), (command.name, param.name)
