"""Typed report parameters: parse what a user typed, check what a caller passed.

A report declares each parameter in its header, e.g.::

    -- param: limit int(1..10000) = 10  How many products to list, e.g. 20.

Types: ``int`` (optionally bounded, ``int(1..)``, ``int(..100)``), ``date`` (ISO
``2026-11-30``, ``today``, ``today-6``), ``text``, ``bool`` (true/false, yes/no,
on/off, 1/0) and ``timezone`` (an IANA name such as ``Europe/Paris``: PostgreSQL would
also take strings like ``abc+1`` as POSIX zones and silently shift the days). Values are
always bound as parameters, never formatted into SQL: parsing only
decides which Python object the driver receives.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schema.errors import MergepointError

TYPES = ("int", "date", "text", "bool", "timezone")
MAX_TEXT = 1000

_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}
_RELATIVE_DATE = re.compile(r"^today\s*(?:(?P<sign>[+-])\s*(?P<days>\d{1,5}))?$")


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


class ParameterError(MergepointError):
    """A parameter value that does not fit its declared type (one line, names the parameter)."""


@dataclass(frozen=True)
class Param:
    """One declared report parameter."""

    name: str
    type: str
    default: str | None  # as written in the header; None: the caller must give a value
    help: str
    minimum: int | None = None
    maximum: int | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def expected(self) -> str:
        """The expected type in words, for help and error messages."""
        if self.type == "int":
            if self.minimum is not None and self.maximum is not None:
                return f"int between {self.minimum} and {self.maximum}"
            if self.minimum is not None:
                return f"int >= {self.minimum}"
            if self.maximum is not None:
                return f"int <= {self.maximum}"
            return "int"
        if self.type == "date":
            return "date (YYYY-MM-DD, today or today-N)"
        if self.type == "bool":
            return "bool (true or false)"
        if self.type == "timezone":
            return "time zone (an IANA name such as UTC or Europe/Paris)"
        return "text"

    @property
    def spec(self) -> str:
        """The type as declared, e.g. ``int(1..10000)``."""
        if self.type == "int" and (self.minimum is not None or self.maximum is not None):
            low = "" if self.minimum is None else str(self.minimum)
            high = "" if self.maximum is None else str(self.maximum)
            return f"int({low}..{high})"
        return self.type

    def value(self, given: object, today: date) -> object:
        """The Python value to bind: ``given`` parsed if it is text, checked if it is typed."""
        if isinstance(given, str) and self.type not in ("text", "timezone"):
            return self._parse(given.strip(), today)
        return self._check(given)

    def _parse(self, raw: str, today: date) -> object:
        if raw == "" and self.default == "":  # declared `= ""`: not given, NULL in the SQL
            return None
        if self.type == "int":
            if not re.fullmatch(r"[+-]?\d{1,18}", raw):
                raise self._error(raw)
            return self._check(int(raw))
        if self.type == "date":
            relative = _RELATIVE_DATE.match(raw.lower())
            if relative:
                days = int(relative["days"] or 0)
                return (
                    today - timedelta(days=days)
                    if relative["sign"] == "-"
                    else today + timedelta(days=days)
                )
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                raise self._error(raw)
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise self._error(raw) from None
        if self.type == "bool":
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise self._error(raw)
        raise AssertionError(f"unknown parameter type {self.type}")  # pragma: no cover

    def _check(self, value: object) -> object:
        if value is None and self.default == "":  # optional: the SQL has its own default
            return None
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self._error(value)
            if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum
            ):
                raise self._error(value)
            return value
        if self.type == "date":
            if isinstance(value, datetime) or not isinstance(value, date):
                raise self._error(value)
            return value
        if self.type == "bool":
            if not isinstance(value, bool):
                raise self._error(value)
            return value
        if self.type == "text":
            if not isinstance(value, str):
                raise self._error(value)
            if "\x00" in value or len(value) > MAX_TEXT:
                raise ParameterError(
                    f"parameter {self.name}: expected text of at most {MAX_TEXT} characters"
                    " without NUL bytes"
                )
            return value
        if self.type == "timezone":
            if not isinstance(value, str) or value not in _timezones():
                raise self._error(value)
            return value
        raise AssertionError(f"unknown parameter type {self.type}")  # pragma: no cover

    def _error(self, shown: object) -> ParameterError:
        return ParameterError(f"parameter {self.name}: expected {self.expected}, got {shown!r}")


_PARAM_LINE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+"
    r"(?P<type>[a-z]+)(?:\((?P<min>-?\d+)?\.\.(?P<max>-?\d+)?\))?"
    r"(?:\s*=\s*(?P<default>\"(?:[^\"\\]|\\.)*\"|\S+))?"
    r"(?:\s+(?P<help>\S.*))?$"
)


def parse_declaration(text: str) -> Param:
    """A ``param:`` header line (after the ``param:``) as a Param; ValueError if malformed."""
    match = _PARAM_LINE.match(text.strip())
    if not match:
        raise ValueError(
            f"malformed parameter {text.strip()!r}: expected 'NAME TYPE [= DEFAULT] HELP',"
            " e.g. 'limit int(1..100) = 10  How many rows'"
        )
    if match["type"] not in TYPES:
        raise ValueError(
            f"parameter {match['name']}: unknown type {match['type']!r}"
            f" (use one of {', '.join(TYPES)})"
        )
    if (match["min"] or match["max"]) and match["type"] != "int":
        raise ValueError(f"parameter {match['name']}: only int parameters take a range")
    if not match["help"]:
        raise ValueError(f"parameter {match['name']}: add a help text after the type and default")
    default = match["default"]
    if default is not None and default.startswith('"'):
        default = re.sub(r"\\(.)", r"\1", default[1:-1])
    return Param(
        name=match["name"],
        type=match["type"],
        default=default,
        help=match["help"].strip(),
        minimum=int(match["min"]) if match["min"] else None,
        maximum=int(match["max"]) if match["max"] else None,
    )
