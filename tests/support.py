"""Small helpers every test directory shares: ports, what a one-line error looks like, and
screenshots of a browser test's pages when it fails."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from schema.paths import ROOT
from schema.ports import free_port

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "Watched",
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


class Watched:
    """A process of the product started as its users start it, its output (stdout and
    stderr) collected line by line as it comes (a full pipe would stop it)."""

    TIMEOUT = 60.0  # seconds wait_for waits by default

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
        self.process.stdout.close()

    def wait_for(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        """The first line matching ``pattern`` (a regular expression); fails with the
        output if the process ends without one or ``timeout`` passes first."""
        deadline = time.monotonic() + (self.TIMEOUT if timeout is None else timeout)
        while True:
            ended = self.process.poll() is not None and not self.reader.is_alive()
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if ended or time.monotonic() > deadline:
                raise AssertionError(f"never saw {pattern!r}; output:\n" + "\n".join(self.lines))
            time.sleep(0.01)

    def end(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        """Send ``sig`` (Ctrl-C unless told) if it still runs; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.reader.join(10)
        return code
