"""Report files: a typed header in SQL comments, then one named query (aiosql's format).

Each ``*.sql`` file in a reports directory is one report::

    -- name: top_products
    -- title: Top products
    -- description: The products that brought in the most revenue ...
    --   (continuation lines are indented)
    -- param: limit int(1..10000) = 10  How many products to list, e.g. 20.
    -- example: mergepoint report run top_products --param limit=5
    SELECT ... LIMIT :limit;

aiosql reads the ``-- name:`` line and the SQL, finds the ``:name`` parameters and, at run
time, rewrites them into the driver's paramstyle. Its own annotations carry parameter
names but no types or defaults, so the typed header (everything between ``-- name:`` and
the SQL) is read here; loading fails unless the declared parameters are exactly the ones
the SQL uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import aiosql
from aiosql.adapters.generic import GenericAdapter

from schema.errors import MergepointError
from schema.reports.params import Param, parse_declaration

BUILTIN_DIR = Path(__file__).resolve().parent
HEADER_KEYS = ("title", "description", "param", "example")
_NAME = re.compile(r"^--\s*name\s*:\s*(?P<name>[a-z][a-z0-9_]*)\s*$")
_KEY = re.compile(r"^--\s(?P<key>[a-z_]+)\s*:\s*(?P<value>.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(?P<value>\S.*)$")


class ReportFileError(MergepointError):
    """A report file whose header or SQL cannot be loaded."""


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    params: tuple[Param, ...]
    examples: tuple[str, ...]
    path: Path
    source: str  # the whole file, as aiosql reads it

    @property
    def sql(self) -> str:
        """The query without its header."""
        lines = self.source.splitlines()
        start = next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))
        return "\n".join(lines[start:]).strip() + "\n"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def parse(source: str, path: Path) -> Report:
    """One report from a file's text; ReportFileError (one line) if it is malformed."""
    where = str(path)
    lines = source.splitlines()
    if not lines or not (first := _NAME.match(lines[0].strip())):
        raise ReportFileError(f"{where}: the first line must be '-- name: {path.stem}'")
    name = first["name"]
    if name != path.stem:
        raise ReportFileError(
            f"{where}: report name {name!r} must match the file name {path.stem!r}"
        )

    fields: dict[str, list[str]] = {key: [] for key in HEADER_KEYS}
    last: str | None = None
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.rstrip()
        if not line.startswith("--"):
            break
        if line.strip() == "--":
            last = None
            continue
        if (cont := _CONTINUATION.match(line)) and last is not None:
            fields[last][-1] += " " + cont["value"].strip()
            continue
        key_match = _KEY.match(line)
        if not key_match or key_match["key"] not in HEADER_KEYS:
            raise ReportFileError(
                f"{where}:{number}: expected one of {', '.join(k + ':' for k in HEADER_KEYS)}"
                f" or an indented continuation, got {line!r}"
            )
        last = key_match["key"]
        fields[last].append(key_match["value"].strip())

    for key in ("title", "description"):
        if len(fields[key]) != 1 or not fields[key][0]:
            raise ReportFileError(f"{where}: the header needs exactly one '-- {key}:' line")
    params: list[Param] = []
    for declaration in fields["param"]:
        try:
            param = parse_declaration(declaration)
        except ValueError as exc:
            raise ReportFileError(f"{where}: {exc}") from None
        if any(p.name == param.name for p in params):
            raise ReportFileError(f"{where}: parameter {param.name} is declared twice")
        params.append(param)

    report = Report(
        name=name,
        title=fields["title"][0],
        description=fields["description"][0],
        params=tuple(params),
        examples=tuple(fields["example"]),
        path=path,
        source=source,
    )
    _check_sql_parameters(report)
    _check_defaults(report)
    return report


def _check_sql_parameters(report: Report) -> None:
    """The SQL's ``:name`` parameters must be exactly the declared ones."""
    try:
        queries = aiosql.from_str(
            report.source, GenericAdapter, mandatory_parameters=False, attribute=None
        )
    except Exception as exc:  # aiosql raises SQLParseException / SQLLoadException
        raise ReportFileError(f"{report.path}: {exc}") from None
    names = [n for n in queries.available_queries if not n.endswith("_cursor")]
    if names != [report.name]:
        raise ReportFileError(
            f"{report.path}: a report file holds exactly one query, found {names}"
        )
    signature = getattr(queries, report.name).__signature__
    used = {p for p in signature.parameters if p != "self"}
    declared = {p.name for p in report.params}
    if used - declared:
        raise ReportFileError(
            f"{report.path}: the SQL uses undeclared parameter(s)"
            f" {', '.join(sorted(used - declared))}"
        )
    if declared - used:
        raise ReportFileError(
            f"{report.path}: declared parameter(s) {', '.join(sorted(declared - used))}"
            " are not used by the SQL"
        )


def _check_defaults(report: Report) -> None:
    for param in report.params:
        if param.default is not None:
            try:
                param.value(param.default, date(2000, 1, 1))
            except MergepointError as exc:
                raise ReportFileError(f"{report.path}: bad default: {exc}") from None


def load(path: Path) -> Report:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportFileError(f"cannot read report {path}: {exc}") from None
    return parse(source, path)


def load_all(*directories: Path) -> dict[str, Report]:
    """Every report in the built-in directory and then ``directories``, by name."""
    reports: dict[str, Report] = {}
    for directory in (BUILTIN_DIR, *directories):
        if not directory.is_dir():
            raise MergepointError(f"reports directory {directory} does not exist")
        for path in sorted(directory.glob("*.sql")):
            report = load(path)
            if report.name in reports:
                raise ReportFileError(
                    f"{path}: a report named {report.name} already exists"
                    f" ({reports[report.name].path})"
                )
            reports[report.name] = report
    return reports


def find(name: str, *directories: Path) -> Report:
    """The report called ``name``; an unknown name lists the known ones."""
    reports = load_all(*directories)
    if name not in reports:
        raise MergepointError(
            f"unknown report {name!r}; known reports: {', '.join(sorted(reports))}"
            " (see: mergepoint report list)"
        )
    return reports[name]
