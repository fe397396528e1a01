"""Small helpers every test directory shares: ports, what a one-line error looks like, and
screenshots of a browser test's pages when it fails."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from schema.paths import ROOT
from schema.ports import free_port

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "exports",
    "free_port",
    "one_line_error",
    "screenshots_on_failure",
]

# What a failed test leaves for a person (or CI) to look at; not in git.
ARTIFACTS = ROOT / ".artifacts"

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


@contextmanager
def screenshots_on_failure(
    pages: Mapping[str, Any], name: str, directory: Path = ARTIFACTS
) -> Iterator[None]:
    """Keep what each open Playwright page showed when a step failed, as
    ``<directory>/<name>/<page>.png``, and say where in the failure."""
    try:
        yield
    except BaseException as exc:
        kept = []
        folder = directory / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        folder.mkdir(parents=True, exist_ok=True)
        for label, page in pages.items():
            if not page.is_closed():
                path = folder / f"{label}.png"
                page.screenshot(path=str(path), full_page=True)
                kept.append(str(path))
        raise AssertionError(f"{exc}\nscreenshots: {', '.join(kept) or 'none'}") from exc
