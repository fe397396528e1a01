"""What every ``mergepoint`` command shares: one-line errors, the owner's URL, options."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
import psycopg
import sqlalchemy.exc
from alembic.util.exc import CommandError
from rich.console import Console

from schema import db
from schema.errors import MergepointError, one_line

err_console = Console(stderr=True, highlight=False)


class Group(click.Group):
    """Turns the errors a user can meet into one readable line and exit code 1.

    Usage errors (an unknown option, a bad choice or value) are one line too, with click's
    exit 2, in every command.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            message = exc.format_message().rstrip(".")
            err_console.print(f"[bold red]error:[/] {message}{where}", soft_wrap=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            err_console.print(f"[bold red]error:[/] {exc.format_message()}", soft_wrap=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            err_console.print("[bold red]error:[/] aborted", soft_wrap=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MergepointError as exc:
            fail(str(exc))
        except psycopg.errors.InsufficientPrivilege as exc:
            fail(f"permission denied: {one_line(exc)}")
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            fail(read_only(exc))
        except psycopg.Error as exc:
            fail(f"database error: {one_line(exc)}")
        except sqlalchemy.exc.DBAPIError as exc:
            if isinstance(exc.orig, psycopg.errors.ReadOnlySqlTransaction):
                fail(read_only(exc.orig))
            fail(f"database error: {one_line(exc.orig or exc)}")
        except CommandError as exc:
            fail(f"alembic: {one_line(exc)}")


def read_only(exc: psycopg.Error) -> str:
    return (
        f"the database refused a write ({exc.diag.message_primary or one_line(exc)}):"
        f" it is read-only, a replica perhaps; point {db.ENV_URL} at the primary"
    )


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.exit(1)


def owner() -> str:
    """The owner's URL: MERGEPOINT_DATABASE_URL, or the embedded server (started if needed)."""
    return db.owner_url()


def embedded_only(action: str) -> None:
    if db.ENV_URL in os.environ:
        raise MergepointError(f"{db.ENV_URL} is set: there is no embedded server to {action}")


LOCK_TIMEOUT = click.option(
    "--lock-timeout",
    metavar="DURATION",
    help="How long DDL may wait for a table lock before failing cleanly "
    "(default 2s or MERGEPOINT_LOCK_TIMEOUT). Example: --lock-timeout 500ms",
)
