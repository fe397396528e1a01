"""The process supervisor behind `mergepoint up`: prefixed, safe, complete log relay."""

from __future__ import annotations

import io
import sys

from rich.console import Console

from schema import supervisor


def run_and_relay(code: str, *, colour: bool = False) -> tuple[str, supervisor.Running]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=colour, color_system="standard" if colour else None)
    relay = supervisor.LogRelay(console)
    spec = supervisor.Spec("demo", [sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin"})
    running = supervisor.start(spec, relay)
    assert running.process.wait(30) == 0
    running.reader.join(10)
    return out.getvalue(), running


def test_every_line_arrives_once_in_order_with_its_prefix():
    text, running = run_and_relay(
        "import sys\n"
        "for i in range(20000): sys.stdout.write(f'line {i}\\n')\n"
        "sys.stdout.write('no newline at the end')"
    )
    lines = text.splitlines()
    assert lines == [f"             demo | line {i}" for i in range(20000)] + [
        "             demo | no newline at the end"
    ]
    assert running.tail[-1] == "no newline at the end" and len(running.tail) == supervisor.TAIL


def test_control_characters_never_reach_the_terminal():
    text, _ = run_and_relay(
        r"print('GET /\x1b]0;pwned\x07?q=\x9b31m HTTP/1.1\ttab kept'); print('caf\u00e9')"
    )
    assert text.splitlines() == [
        "             demo | GET /]0;pwned?q=31m HTTP/1.1\ttab kept",
        "             demo | café",
    ]
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text


def test_the_prefix_is_coloured_on_a_terminal_and_the_line_is_not():
    text, _ = run_and_relay("print('\\x1b[31mred?')", colour=True)
    assert text.startswith("\x1b[37m             demo | \x1b[0m") and text.endswith("[31mred?\n")
