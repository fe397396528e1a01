"""Small helpers every test directory shares: ports, and what a one-line error looks like."""

from __future__ import annotations

from pathlib import Path

from schema.ports import free_port

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "exports", "free_port", "one_line_error"]

# The browser tests' chromium (Debian's package, installed by .ci/run) and its headless flags.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def one_line_error(text: str, *fragments: str) -> str:
    """``text`` (a command's stderr) is one line, no traceback, containing every fragment.

    Returns the line, for assertions of the caller's own.
    """
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def exports(output: str) -> dict[str, str]:
    """`mergepoint env`'s ``export NAME='value'`` lines as a dictionary."""
    pairs = (line.removeprefix("export ").split("=", 1) for line in output.splitlines())
    return {name: value.strip("'") for name, value in pairs}
