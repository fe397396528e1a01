"""The cost of `mergepoint up`'s log relay: the storefront under `up` beside the same
server command (schema.servers: granian, or gunicorn with ``--server gunicorn``) started
directly, on the same database, in the same run.

`up` runs with its output on a pseudo-terminal read as fast as a terminal would (the
relay's worst case is a coloured terminal); the direct server's output goes nowhere.
Rounds alternate (up, direct, up, direct, …) so drift on a shared machine hits both.
``--checkout DIR`` runs `up` from another checkout (an older commit, for a before/after).

    python -m bench.relay [--rounds 3] [--seconds 5] [--access-log] [--checkout DIR]
                          [--server granian|gunicorn]
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import wrk
from bench.common import report, wait_ok
from schema import servers
from schema.paths import ROOT
from schema.ports import free_port


def drain(fd: int, seen: list[bytes]) -> None:
    """Read a pseudo-terminal as a terminal would, keeping the first 64 KB."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        if sum(map(len, seen)) < 65536:
            seen.append(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--access-log", action="store_true", help="run up with --access-log")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="where to run up from")
    parser.add_argument("--server", choices=servers.NAMES, default=servers.DEFAULT)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    env = {**os.environ, "MERGEPOINT_DATA_DIR": str(data)}
    for var in ("MERGEPOINT_DATABASE_URL", "MERGEPOINT_ROLE_PREFIX", "STOREFRONT_DATABASE_URL"):
        env.pop(var, None)
    up_port, bo_port, direct_port = free_port(), free_port(), free_port()
    argv = [sys.executable, "-m", "schema.cli", "up", "--no-seed",
            "--storefront-port", str(up_port), "--backoffice-port", str(bo_port)]  # fmt: skip
    if args.access_log:
        argv.append("--access-log")
    if args.server != servers.DEFAULT:
        argv += ["--server", args.server]
    master, slave = pty.openpty()
    up = subprocess.Popen(argv, cwd=args.checkout, env=env, stdout=slave, stderr=slave)
    os.close(slave)
    seen: list[bytes] = []
    threading.Thread(target=drain, args=(master, seen), daemon=True).start()
    direct = None
    try:
        wait_ok(f"http://127.0.0.1:{up_port}/healthz", timeout=90)
        url = subprocess.run(
            [sys.executable, "-m", "schema.cli", "db", "url", "--role", "storefront"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        direct = subprocess.Popen(
            servers.argv(args.server, "apps.flask_app:create_app()",
                         servers.Serve("127.0.0.1", direct_port, workers=2)),
            cwd=args.checkout, env={**env, "STOREFRONT_DATABASE_URL": url},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_ok(f"http://127.0.0.1:{direct_port}/healthz", timeout=90)
        for port in (up_port, direct_port):  # warm both up (imports, first connections)
            wrk.run(f"http://127.0.0.1:{port}/healthz", seconds=2)
        results: dict[str, list[wrk.Result]] = {"up": [], "direct": []}
        for _ in range(args.rounds):
            for name, port in (("up", up_port), ("direct", direct_port)):
                results[name].append(
                    wrk.run(f"http://127.0.0.1:{port}/healthz", seconds=args.seconds)
                )
    finally:
        if direct is not None:
            direct.terminate()
            direct.wait(30)
        up.send_signal(2)
        up.wait(60)
        os.close(master)
    rps = {name: statistics.median(r.rps for r in rs) for name, rs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in rs) for name, rs in results.items()}
    ratio = rps["up"] / rps["direct"]
    label = f"up{' --access-log' if args.access_log else ''} ({args.checkout.name})"
    errors = {name: sum(r.errors for r in rs) for name, rs in results.items()}
    rows = [
        [label, f"{rps['up']:,.0f}", f"{p99['up']:.1f}", errors["up"]],
        [f"direct {args.server}", f"{rps['direct']:,.0f}", f"{p99['direct']:.1f}",
         errors["direct"]],  # fmt: skip
        ["up / direct", f"{ratio:.2f}", "", ""],
    ]
    report(
        "relay",
        "GET /healthz: the storefront under `mergepoint up` vs started directly (wrk, 16 conns)",
        ["server", "req/s (median)", "p99 ms", "errors"],
        rows,
        {
            "checkout": str(args.checkout),
            "server": args.server,
            "access_log": args.access_log,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "up_rps": round(rps["up"], 1),
            "direct_rps": round(rps["direct"], 1),
            "ratio": round(ratio, 3),
            "up_p99_ms": round(p99["up"], 2),
            "errors": errors,
            "direct_p99_ms": round(p99["direct"], 2),
        },
    )


if __name__ == "__main__":
    main()
