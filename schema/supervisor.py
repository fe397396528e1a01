"""Run several processes as one: prefixed logs, readiness, and a clean stop on Ctrl-C.

What ``mergepoint up`` needs from a process manager and no more: each process starts in
its own session (our signal handler decides how it stops), its output is relayed with its
name as a coloured prefix, and ``stop_all`` sends SIGTERM, then SIGKILL after a grace
period. The relay must never slow a server down: it reads whatever the pipe holds in one
``os.read`` and writes it in one call, with the prefix rendered once (a write per line
through rich's markup made gunicorn block on a full pipe: a quarter of its throughput).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style

from schema.errors import MergepointError
from schema.terminal import printable

TAIL = 20
CHUNK = 65536


@dataclass(frozen=True)
class Spec:
    """A process to run: its name (the log prefix), command line and environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    colour: str = "white"
    cwd: Path | None = None
    ready: Callable[[], bool] | None = None  # None: ready once started (or ready_line)
    ready_line: str | None = None  # ready once a line of its output contains this
    user: str | None = None  # run as this OS user (we are root; the program refuses root)
    stop_signal: int = signal.SIGTERM  # PostgreSQL's fast shutdown is SIGINT


@dataclass
class Running:
    spec: Spec
    process: subprocess.Popen[bytes]
    reader: threading.Thread
    tail: list[str] = field(default_factory=list)
    seen_ready: list[str] = field(default_factory=list)  # lines matching spec.ready_line

    @property
    def name(self) -> str:
        return self.spec.name


class LogRelay:
    """Writes the processes' lines to one stream, each with its process's prefix."""

    def __init__(self, console: Console, width: int = 17):
        self.stream: IO[str] = console.file
        self.width = width
        self.coloured = console.color_system is not None
        self.lock = threading.Lock()

    def prefix(self, spec: Spec) -> str:
        text = f"{spec.name:>{self.width}} | "
        if not self.coloured:
            return text
        return Style.parse(spec.colour).render(text, color_system=ColorSystem.STANDARD)

    def follow(self, running: Running) -> None:
        """Relay ``running``'s output until it closes (run in a thread)."""
        assert running.process.stdout is not None
        fd = running.process.stdout.fileno()
        prefix = self.prefix(running.spec)
        pending = b""
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                if pending:
                    self._write(running, prefix, [pending])
                running.process.stdout.close()
                return
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if lines:
                self._write(running, prefix, lines)

    def _write(self, running: Running, prefix: str, raw: list[bytes]) -> None:
        # A log line must not drive the operator's terminal (a request path is user input,
        # and access logs print it): control characters but tab are removed.
        lines = [printable(b.decode("utf-8", "replace").rstrip("\r")) for b in raw]
        running.tail = (running.tail + lines)[-TAIL:]
        if running.spec.ready_line and not running.seen_ready:
            running.seen_ready = [x for x in lines if running.spec.ready_line in x]
        text = "".join(f"{prefix}{line}\n" for line in lines)
        with self.lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # the terminal went away: keep draining the pipe


def start(spec: Spec, relay: LogRelay) -> Running:
    process = subprocess.Popen(
        list(spec.argv),
        cwd=spec.cwd,
        env=dict(spec.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        bufsize=0,
        start_new_session=True,  # our signal handler decides how it stops
        user=spec.user,
    )
    running = Running(spec, process, threading.Thread(daemon=True))
    running.reader = threading.Thread(
        target=relay.follow, args=(running,), daemon=True, name=f"log-{spec.name}"
    )
    running.reader.start()
    return running


def wait_ready(running: Sequence[Running], timeout: float) -> None:
    """Until every process's ``ready`` probe says so; one line if one dies or never does."""
    deadline = time.monotonic() + timeout
    pending = [r for r in running if r.spec.ready is not None or r.spec.ready_line]
    while pending:
        for r in list(pending):
            if r.process.poll() is not None:
                r.reader.join(2)
                last = r.tail[-1] if r.tail else f"exit {r.process.returncode}"
                raise MergepointError(f"{r.name} exited during start-up: {last}")
            if r.spec.ready_line is not None:
                done = any(r.spec.ready_line in line for line in r.seen_ready)
            else:
                assert r.spec.ready is not None
                done = r.spec.ready()
            if done:
                pending.remove(r)
        if time.monotonic() > deadline:
            names = ", ".join(r.name for r in pending)
            raise MergepointError(f"not ready after {timeout:.0f}s: {names}")
        if pending:
            time.sleep(0.2)


def first_exited(running: Sequence[Running]) -> Running | None:
    for r in running:
        if r.process.poll() is not None:
            return r
    return None


def stop_all(running: Sequence[Running], timeout: float = 10) -> None:
    """Its stop signal (SIGTERM) to every process group, SIGKILL what is left after
    ``timeout`` seconds."""
    for r in running:
        if r.process.poll() is None:
            os.killpg(r.process.pid, r.spec.stop_signal)
    deadline = time.monotonic() + timeout
    for r in running:
        try:
            r.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(r.process.pid, signal.SIGKILL)
            r.process.wait()
        r.reader.join(2)
