"""Named SQL reports with typed parameters, run on any DB-API 2 connection.

    from schema import reports
    report = reports.find("low_stock")
    result = reports.run(report, conn, {"threshold": "3"})   # conn: any DB-API 2 connection
    reports.formatter("csv").write(result, sys.stdout)

The report files (``*.sql`` next to this module) are the reports; ``loader`` reads their
header, ``runner`` binds and fetches, ``formatters`` write table, CSV or JSON.
"""

from schema.reports.formatters import FORMATTERS, Formatter, formatter
from schema.reports.loader import BUILTIN_DIR, Report, ReportFileError, find, load, load_all
from schema.reports.params import Param, ParameterError
from schema.reports.runner import Result, bind, run

__all__ = [
    "BUILTIN_DIR",
    "FORMATTERS",
    "Formatter",
    "Param",
    "ParameterError",
    "Report",
    "ReportFileError",
    "Result",
    "bind",
    "find",
    "formatter",
    "load",
    "load_all",
    "run",
]
