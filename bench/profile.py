"""Where the storefront's own time goes per request: py-spy samples one server process
while wrk drives one endpoint, and the samples are added up by function.

The storefront runs under granian (one worker, the bench's database and customers, as in
bench.storefront); py-spy (a sampling profiler: it reads the process's stacks from outside,
the process runs unmodified) records for ``--seconds``. The report gives each function's
share of the samples: its own ("self", where the CPU is) and with what it calls
("total"), for the functions whose share is at least ``--min`` percent.

    python -m bench.profile products             # GET /api/products, ~30 s
    python -m bench.profile orders --seconds 20  # POST /api/orders
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

from bench import wrk
from bench.common import PREFIX, scratch_database
from bench.storefront import CONNECTIONS, ENDPOINTS, ROOT, granian, order_lua, seed, server
from schema import db, stack
from schema.ports import free_port


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
         "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def shares(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """(self samples, total samples, all samples) by function, from py-spy's raw output
    (one ``frame;frame;...;frame count`` line per distinct stack)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [name_of(f) for f in stack.split(";")]
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    return own, total, samples


def name_of(frame: str) -> str:
    """``function (path/to/file.py:12)`` -> ``function (file.py)``."""
    function, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if "site-packages" not in parts else "/".join(
        parts[parts.index("site-packages") + 1:][:2]
    )
    return f"{function} ({short})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", choices=("healthz", "products", "orders"))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--min", type=float, default=2.0, help="smallest share shown, %%")
    args = parser.parse_args(argv)
    with scratch_database("profile") as owner_url, tempfile.TemporaryDirectory() as tmp:
        url = db.role_urls(owner_url, PREFIX)["storefront"]
        env = stack.app_env("storefront", url)
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "apps.flask_app", "db", "upgrade"],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        seed(owner_url, url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv_ = granian(1, 4)(port)
        with server(argv_, env, f"{base}/readyz"):
            main_pid = next(
                p.pid for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] == argv_
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not (workers := psutil.Process(main_pid).children()):
                assert time.monotonic() < deadline, "granian started no worker"
                time.sleep(0.1)
            path, script = ENDPOINTS[args.endpoint]
            lua = order_lua() if script == "orders" else None
            wrk.run(f"{base}{path}", seconds=2, connections=CONNECTIONS, script=lua)
            out = Path(tmp) / "profile.txt"
            recording = profile(workers[0].pid, args.seconds, out)
            result = wrk.run(
                f"{base}{path}", seconds=args.seconds, connections=CONNECTIONS, script=lua
            )
            _, errors = recording.communicate(timeout=args.seconds + 60)
            if not out.exists():
                raise SystemExit(f"py-spy recorded nothing: {errors.decode().strip()}")
            own, total, samples = shares(out.read_text())
    print(f"{args.endpoint}: {result.rps:,.0f} req/s under granian, 1 worker x 4 threads;"
          f" {samples:,} samples")  # fmt: skip
    print(f"{'self %':>7} {'total %':>8}  function")
    shown = sorted(
        (f for f in total if 100 * total[f] / samples >= args.min),
        key=lambda f: (-own[f], -total[f]),
    )
    for function in shown:
        print(f"{100 * own[function] / samples:7.1f} {100 * total[function] / samples:8.1f}"
              f"  {function}")  # fmt: skip


if __name__ == "__main__":
    main()
