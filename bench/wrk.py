"""wrk, the C load generator, driven from Python: run it, read its numbers.

wrk keeps the load off the Python interpreter being measured (a Python client on the same
two cores takes much of the CPU it measures). Latency percentiles come from a Lua ``done``
hook that prints them as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPORT_LUA = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
               + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '\\nWRK_JSON {"requests": %d, "seconds": %f, "errors": %d, "non2xx": %d,'
    .. ' "p50_ms": %f, "p99_ms": %f}\\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    errors: int
    non2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    url: str,
    *,
    seconds: float = 5,
    connections: int = 16,
    threads: int = 2,
    script: str | None = None,
) -> Result:
    """``wrk -t threads -c connections -d seconds url`` with ``script`` (Lua) prepended."""
    if not available():
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian's package)")
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "bench.lua"
        lua.write_text((script or "") + REPORT_LUA)
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "--latency", "-s", str(lua), url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    return Result(**json.loads(line.removeprefix("WRK_JSON ")))
